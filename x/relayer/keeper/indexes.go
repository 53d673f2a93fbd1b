package keeper

import (
	"context"
	"errors"
	"slices"

	"cosmossdk.io/collections"
	"cosmossdk.io/collections/codec"
	"cosmossdk.io/collections/indexes"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// The secondary indexes of the keeper's IndexedMaps. An IndexedMap keeps
// its indexes in step on every Set and Remove, so no write of a claim or a
// supplier can forget one.

// ClaimIndexes index claims, keyed (session id, supplier), by supplier and
// by the height their proof window closes (when they settle).
type ClaimIndexes struct {
	// Supplier holds (supplier, session id): the primary key reversed.
	Supplier *indexes.ReversePair[string, string, types.Claim]
	// ProofClose holds (proof window close height, (session id, supplier)).
	ProofClose *refIndex[int64, collections.Pair[string, string], types.Claim]
}

func (i ClaimIndexes) IndexesList() []collections.Index[collections.Pair[string, string], types.Claim] {
	return []collections.Index[collections.Pair[string, string], types.Claim]{i.Supplier, i.ProofClose}
}

// SupplierIndexes index suppliers, keyed by operator address, by service.
type SupplierIndexes struct {
	// Service holds (service id, operator) for each service of a supplier.
	Service *refIndex[string, string, types.Supplier]
}

func (i SupplierIndexes) IndexesList() []collections.Index[string, types.Supplier] {
	return []collections.Index[string, types.Supplier]{i.Service}
}

// refIndex indexes each object under every reference key refs returns for
// it, as (reference key, primary key). It is indexes.Multi with a list of
// reference keys instead of exactly one (a supplier is indexed once per
// service), and it can be paged with query.CollectionPaginate (it has
// IterateRaw, which indexes.Multi lacks).
type refIndex[R comparable, PK, V any] struct {
	refs func(pk PK, v V) []R
	keys collections.KeySet[collections.Pair[R, PK]]
}

func newRefIndex[R comparable, PK, V any](sb *collections.SchemaBuilder, prefix collections.Prefix, name string,
	refCodec codec.KeyCodec[R], pkCodec codec.KeyCodec[PK], refs func(pk PK, v V) []R,
) *refIndex[R, PK, V] {
	return &refIndex[R, PK, V]{refs: refs, keys: collections.NewKeySet(sb, prefix, name, collections.PairKeyCodec(refCodec, pkCodec))}
}

// Reference implements collections.Index: it writes the entries the new
// value has and the old one had not, and removes those only the old one had.
func (i *refIndex[R, PK, V]) Reference(ctx context.Context, pk PK, v V, lazyOld func() (V, error)) error {
	var oldRefs []R
	switch old, err := lazyOld(); {
	case err == nil:
		oldRefs = i.refs(pk, old)
	case !errors.Is(err, collections.ErrNotFound):
		return err
	}
	newRefs := i.refs(pk, v)
	for _, r := range oldRefs {
		if !slices.Contains(newRefs, r) {
			if err := i.keys.Remove(ctx, collections.Join(r, pk)); err != nil {
				return err
			}
		}
	}
	for _, r := range newRefs {
		if !slices.Contains(oldRefs, r) {
			if err := i.keys.Set(ctx, collections.Join(r, pk)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Unreference implements collections.Index.
func (i *refIndex[R, PK, V]) Unreference(ctx context.Context, pk PK, lazyOld func() (V, error)) error {
	old, err := lazyOld()
	if err != nil {
		return err
	}
	for _, r := range i.refs(pk, old) {
		if err := i.keys.Remove(ctx, collections.Join(r, pk)); err != nil {
			return err
		}
	}
	return nil
}

// MatchExact iterates the primary keys indexed under ref, in key order.
func (i *refIndex[R, PK, V]) MatchExact(ctx context.Context, ref R) (indexes.MultiIterator[R, PK], error) {
	iter, err := i.keys.Iterate(ctx, collections.NewPrefixedPairRange[R, PK](ref))
	return indexes.MultiIterator[R, PK](iter), err
}

// IterateRaw and KeyCodec let query.CollectionPaginate page the index.
func (i *refIndex[R, PK, V]) IterateRaw(ctx context.Context, start, end []byte, order collections.Order) (collections.Iterator[collections.Pair[R, PK], collections.NoValue], error) {
	return i.keys.IterateRaw(ctx, start, end, order)
}

func (i *refIndex[R, PK, V]) KeyCodec() codec.KeyCodec[collections.Pair[R, PK]] {
	return i.keys.KeyCodec()
}

func newClaimIndexes(sb *collections.SchemaBuilder, claimKey codec.KeyCodec[collections.Pair[string, string]]) ClaimIndexes {
	return ClaimIndexes{
		Supplier: indexes.NewReversePair[types.Claim](sb, types.ClaimsBySupplierKey, "claims_by_supplier", claimKey),
		ProofClose: newRefIndex(sb, types.ClaimsByProofCloseKey, "claims_by_proof_close", collections.Int64Key, claimKey,
			func(_ collections.Pair[string, string], c types.Claim) []int64 {
				return []int64{c.ProofWindowCloseHeight}
			}),
	}
}

func newSupplierIndexes(sb *collections.SchemaBuilder) SupplierIndexes {
	return SupplierIndexes{
		Service: newRefIndex(sb, types.SupplierServicesKey, "supplier_services", collections.StringKey, collections.StringKey,
			func(_ string, s types.Supplier) []string { return supplierServiceIDs(s.Services) }),
	}
}

// supplierServiceIDs lists the ids of a supplier's services.
func supplierServiceIDs(services []types.SupplierService) []string {
	ids := make([]string, len(services))
	for i, s := range services {
		ids[i] = s.ServiceId
	}
	return ids
}
