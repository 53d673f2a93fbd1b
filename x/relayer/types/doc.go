// Package types holds the relayer module's generated protobuf types and the
// hand-written rules around them: parameter validation, stateless message
// checks, registered errors, store keys and the keepers the module expects.
// It must never read chain state: that is the keeper's job.
package types
