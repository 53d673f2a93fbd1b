// Package config loads and validates the AppGate's YAML configuration
// (see appgate.example.yaml). Unknown fields are rejected and every problem
// is reported at once, each as a FieldError naming its field.
//
// It must never reach the keyring or the chain: whether the key exists and
// the application is staked is checked when the AppGate starts.
package config
