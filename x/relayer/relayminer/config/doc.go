// Package config loads and validates the RelayMiner's YAML configuration:
// chain endpoints, the store, metrics and health listeners, and per supplier
// key the services it serves (listen address, backend, limits). Unknown
// fields are rejected, defaults are applied, and every error names the field
// it is about (e.g. suppliers[0].services[1].backend_url).
//
// The strict decoding, the sections shared with the AppGate (chain
// endpoints, server limits, metrics and health endpoints) and the address
// checks are x/relayer/internal/yamlconf's; this package holds the
// RelayMiner's own struct, defaults and cross-field rules.
//
// It checks only what the file alone can tell. It must never open the
// keyring, dial the chain or bind a port: whether each key_name exists in
// the keyring, whether its supplier is staked for each configured service,
// and whether the listen addresses can be bound are checked by the
// `relayminer start` command (see KeyNames, Supplier.ServiceIDs and
// ListenAddresses).
package config
