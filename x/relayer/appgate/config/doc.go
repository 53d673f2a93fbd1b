// Package config loads and validates the AppGate's YAML configuration
// (see appgate.example.yaml). Unknown fields are rejected and every problem
// is reported at once, each as a FieldError naming its field.
//
// The strict decoding, the sections shared with the RelayMiner (chain
// endpoints, server limits, metrics and health endpoints) and the address
// checks are x/relayer/internal/yamlconf's; this package holds the
// AppGate's own struct, defaults and cross-field rules.
//
// It must never reach the keyring or the chain: whether the key exists and
// the application is staked is checked when the AppGate starts.
package config
