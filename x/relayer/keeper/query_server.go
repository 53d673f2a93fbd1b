package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	"github.com/cosmos/cosmos-sdk/types/query"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

type queryServer struct{ k Keeper }

// NewQueryServer returns the module's Query service.
func NewQueryServer(k Keeper) types.QueryServer { return queryServer{k: k} }

var _ types.QueryServer = queryServer{}

// notFound turns collections.ErrNotFound into a gRPC NotFound carrying the
// module error; other errors pass through.
func notFound(err error, regErr *errorsmod.Error, format string, args ...any) error {
	if errors.Is(err, collections.ErrNotFound) {
		return status.Error(codes.NotFound, errorsmod.Wrapf(regErr, format, args...).Error())
	}
	return err
}

func orNow(ctx context.Context, h int64) int64 {
	if h == 0 {
		return height(ctx)
	}
	return h
}

func (q queryServer) Params(ctx context.Context, req *types.QueryParamsRequest) (*types.QueryParamsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	p, err := q.k.ParamsAt(ctx, orNow(ctx, req.Height))
	if err != nil {
		return nil, err
	}
	return &types.QueryParamsResponse{Params: p}, nil
}

func (q queryServer) Service(ctx context.Context, req *types.QueryServiceRequest) (*types.QueryServiceResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	s, err := q.k.ServiceAt(ctx, req.Id, orNow(ctx, req.Height))
	if errors.Is(err, types.ErrServiceNotFound) {
		return nil, status.Error(codes.NotFound, err.Error())
	} else if err != nil {
		return nil, err
	}
	return &types.QueryServiceResponse{Service: s}, nil
}

func (q queryServer) Services(ctx context.Context, req *types.QueryServicesRequest) (*types.QueryServicesResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	list, page, err := query.CollectionPaginate(ctx, q.k.Services, req.Pagination,
		func(_ string, s types.Service) (types.Service, error) { return s, nil })
	if err != nil {
		return nil, err
	}
	return &types.QueryServicesResponse{Services: list, Pagination: page}, nil
}

func (q queryServer) Application(ctx context.Context, req *types.QueryApplicationRequest) (*types.QueryApplicationResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	app, err := q.k.Applications.Get(ctx, req.Address)
	if err != nil {
		return nil, notFound(err, types.ErrApplicationNotFound, "application %s", req.Address)
	}
	return &types.QueryApplicationResponse{Application: app}, nil
}

func (q queryServer) Applications(ctx context.Context, req *types.QueryApplicationsRequest) (*types.QueryApplicationsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	list, page, err := query.CollectionPaginate(ctx, q.k.Applications, req.Pagination,
		func(_ string, a types.Application) (types.Application, error) { return a, nil })
	if err != nil {
		return nil, err
	}
	return &types.QueryApplicationsResponse{Applications: list, Pagination: page}, nil
}

func (q queryServer) Supplier(ctx context.Context, req *types.QuerySupplierRequest) (*types.QuerySupplierResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	s, err := q.k.Suppliers.Get(ctx, req.OperatorAddress)
	if err != nil {
		return nil, notFound(err, types.ErrSupplierNotFound, "supplier %s", req.OperatorAddress)
	}
	return &types.QuerySupplierResponse{Supplier: s}, nil
}

func (q queryServer) Suppliers(ctx context.Context, req *types.QuerySuppliersRequest) (*types.QuerySuppliersResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	list, page, err := query.CollectionPaginate(ctx, q.k.Suppliers, req.Pagination,
		func(_ string, s types.Supplier) (types.Supplier, error) { return s, nil })
	if err != nil {
		return nil, err
	}
	return &types.QuerySuppliersResponse{Suppliers: list, Pagination: page}, nil
}

func (q queryServer) GetSession(ctx context.Context, req *types.QueryGetSessionRequest) (*types.QueryGetSessionResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	s, err := q.k.GetSession(ctx, req.ApplicationAddress, req.ServiceId, orNow(ctx, req.BlockHeight))
	if err != nil {
		return nil, err
	}
	return &types.QueryGetSessionResponse{Session: s}, nil
}

func (q queryServer) Claim(ctx context.Context, req *types.QueryClaimRequest) (*types.QueryClaimResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	c, err := q.k.Claims.Get(ctx, collections.Join(req.SessionId, req.SupplierOperatorAddress))
	if err != nil {
		return nil, notFound(err, types.ErrClaimNotFound, "session %s, supplier %s", req.SessionId, req.SupplierOperatorAddress)
	}
	return &types.QueryClaimResponse{Claim: c}, nil
}

func (q queryServer) Claims(ctx context.Context, req *types.QueryClaimsRequest) (*types.QueryClaimsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	filters := 0
	for _, set := range []bool{req.SupplierOperatorAddress != "", req.SessionId != "", req.ProofWindowCloseHeight != 0} {
		if set {
			filters++
		}
	}
	if filters > 1 {
		return nil, status.Error(codes.InvalidArgument, errorsmod.Wrap(types.ErrInvalidRequest, "filter by at most one of supplier, session id, proof window close height").Error())
	}
	get := func(sessionID, supplier string) (types.Claim, error) {
		return q.k.Claims.Get(ctx, collections.Join(sessionID, supplier))
	}
	var (
		list []types.Claim
		page *query.PageResponse
		err  error
	)
	switch {
	case req.SupplierOperatorAddress != "":
		list, page, err = query.CollectionPaginate(ctx, q.k.Claims.Indexes.Supplier, req.Pagination,
			func(k collections.Pair[string, string], _ collections.NoValue) (types.Claim, error) {
				return get(k.K2(), k.K1())
			},
			query.WithCollectionPaginationPairPrefix[string, string](req.SupplierOperatorAddress))
	case req.SessionId != "":
		list, page, err = query.CollectionPaginate(ctx, q.k.Claims, req.Pagination,
			func(_ collections.Pair[string, string], c types.Claim) (types.Claim, error) { return c, nil },
			query.WithCollectionPaginationPairPrefix[string, string](req.SessionId))
	case req.ProofWindowCloseHeight != 0:
		list, page, err = query.CollectionPaginate(ctx, q.k.Claims.Indexes.ProofClose, req.Pagination,
			func(k collections.Pair[int64, collections.Pair[string, string]], _ collections.NoValue) (types.Claim, error) {
				return get(k.K2().K1(), k.K2().K2())
			},
			query.WithCollectionPaginationPairPrefix[int64, collections.Pair[string, string]](req.ProofWindowCloseHeight))
	default:
		list, page, err = query.CollectionPaginate(ctx, q.k.Claims, req.Pagination,
			func(_ collections.Pair[string, string], c types.Claim) (types.Claim, error) { return c, nil })
	}
	if err != nil {
		return nil, err
	}
	return &types.QueryClaimsResponse{Claims: list, Pagination: page}, nil
}

func (q queryServer) Proof(ctx context.Context, req *types.QueryProofRequest) (*types.QueryProofResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	p, err := q.k.Proofs.Get(ctx, collections.Join(req.SessionId, req.SupplierOperatorAddress))
	if err != nil {
		return nil, notFound(err, types.ErrProofNotFound, "session %s, supplier %s", req.SessionId, req.SupplierOperatorAddress)
	}
	return &types.QueryProofResponse{Proof: p}, nil
}

func (q queryServer) ProofRequirement(ctx context.Context, req *types.QueryProofRequirementRequest) (*types.QueryProofRequirementResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	c, err := q.k.Claims.Get(ctx, collections.Join(req.SessionId, req.SupplierOperatorAddress))
	if err != nil {
		return nil, notFound(err, types.ErrClaimNotFound, "session %s, supplier %s", req.SessionId, req.SupplierOperatorAddress)
	}
	required, seedHeight, err := q.k.ProofRequired(ctx, c)
	if err != nil {
		return nil, err
	}
	return &types.QueryProofRequirementResponse{Required: required, SeedBlockHeight: seedHeight}, nil
}
