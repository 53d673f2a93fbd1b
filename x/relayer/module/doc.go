// Package module wires the relayer keeper into a Cosmos SDK app: the
// AppModule (genesis, services, block hooks), its depinject provider and the
// autocli description of every transaction and query. It holds no rules.
package module
