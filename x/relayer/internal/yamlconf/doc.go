// Package yamlconf is the one loader behind the relayer daemons' YAML
// configuration files (the RelayMiner's and the AppGate's): each config
// package keeps only its own struct, its own defaults and its own
// cross-field rules, and leaves the rest here.
//
//   - Decode decodes a file strictly into a struct pre-filled with
//     defaults: a single document, no unknown field, no field given twice,
//     and every problem reported at once, each a *FieldError naming its
//     field path (suppliers[0].services[1].backend_url) and line. Slice
//     elements and map values take their defaults from a Defaulter.
//   - Problems collects what Validate finds, and Validated joins it with
//     Decode's problems, leaving out those of a field that did not decode.
//   - The validators (HTTPURL, ListenAddress, DialAddress, ValidPort, header
//     names and values, Listeners for overlapping listen addresses) and the
//     shared sections (Chain, ServerLimits, Endpoint) with their defaults
//     are defined here once, so that both daemons accept the same values.
//
// Nothing here reaches the keyring, the chain or the network: a
// configuration is checked for what the file alone can tell.
package yamlconf
