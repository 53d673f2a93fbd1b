package keeper_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

func TestAddService_CreateAndUpdateByOwner(t *testing.T) {
	f := newFixture(t)
	f.advanceTo(2)

	f.resetEvents()
	msg := &types.MsgAddService{OwnerAddress: f.serviceOwner, ServiceId: "eth", Name: "Ethereum", ComputeUnitsPerRelay: 3}
	_, err := f.msgs.AddService(f.ctx, msg)
	require.NoError(t, err)
	want := types.Service{Id: "eth", Name: "Ethereum", ComputeUnitsPerRelay: 3, OwnerAddress: f.serviceOwner}
	got, err := f.k.Services.Get(f.ctx, "eth")
	require.NoError(t, err)
	require.Equal(t, want, got)
	evs := eventsOf[*types.EventServiceUpdated](f)
	require.Len(t, evs, 1)
	require.True(t, evs[0].Created)
	require.Equal(t, want, evs[0].Service)

	// The owner updates it two sessions later.
	f.advanceTo(9)
	f.resetEvents()
	update := &types.MsgAddService{OwnerAddress: f.serviceOwner, ServiceId: "eth", Name: "Ethereum mainnet", ComputeUnitsPerRelay: 7}
	_, err = f.msgs.AddService(f.ctx, update)
	require.NoError(t, err)
	updated := types.Service{Id: "eth", Name: "Ethereum mainnet", ComputeUnitsPerRelay: 7, OwnerAddress: f.serviceOwner}
	got, err = f.k.Services.Get(f.ctx, "eth")
	require.NoError(t, err)
	require.Equal(t, updated, got)
	evs = eventsOf[*types.EventServiceUpdated](f)
	require.Len(t, evs, 1)
	require.False(t, evs[0].Created, "an update is not a creation")
	require.Equal(t, updated, evs[0].Service)

	// Service history: sessions started before the update keep the old
	// version.
	for _, tc := range []struct {
		h    int64
		want types.Service
	}{
		{2, want}, {5, want}, {8, want}, {9, updated}, {100, updated},
	} {
		s, err := f.k.ServiceAt(f.ctx, "eth", tc.h)
		require.NoError(t, err, "height %d", tc.h)
		require.Equal(t, tc.want, s, "height %d", tc.h)
	}
	_, err = f.k.ServiceAt(f.ctx, "eth", 1)
	require.ErrorIs(t, err, types.ErrServiceNotFound, "the service did not exist yet at height 1")

	// The query server serves the same history.
	res, err := f.queries.Service(f.ctx, &types.QueryServiceRequest{Id: "eth", Height: 8})
	require.NoError(t, err)
	require.Equal(t, want, res.Service)
	res, err = f.queries.Service(f.ctx, &types.QueryServiceRequest{Id: "eth"})
	require.NoError(t, err)
	require.Equal(t, updated, res.Service, "height 0 means now")
}

func TestAddService_UpdateByNonOwnerIsUnauthorized(t *testing.T) {
	f := newFixture(t)
	f.addService("eth", 1)
	mallory := f.newAccount("mallory", 0)

	f.resetEvents()
	_, err := f.msgs.AddService(f.ctx, &types.MsgAddService{OwnerAddress: mallory, ServiceId: "eth", Name: "mine now", ComputeUnitsPerRelay: 1000})
	require.ErrorIs(t, err, types.ErrUnauthorized)

	got, err := f.k.Services.Get(f.ctx, "eth")
	require.NoError(t, err)
	require.Equal(t, f.serviceOwner, got.OwnerAddress)
	require.Equal(t, uint64(1), got.ComputeUnitsPerRelay)
	require.Empty(t, eventsOf[*types.EventServiceUpdated](f))
}

func TestAddService_Rejections(t *testing.T) {
	f := newFixture(t)
	valid := func() *types.MsgAddService {
		return &types.MsgAddService{OwnerAddress: f.serviceOwner, ServiceId: "svc", Name: "a service", ComputeUnitsPerRelay: 1}
	}
	tests := []struct {
		name string
		edit func(*types.MsgAddService)
		err  error
	}{
		{"empty id", func(m *types.MsgAddService) { m.ServiceId = "" }, types.ErrInvalidService},
		{"id with a space", func(m *types.MsgAddService) { m.ServiceId = "my svc" }, types.ErrInvalidService},
		{"id with a slash", func(m *types.MsgAddService) { m.ServiceId = "a/b" }, types.ErrInvalidService},
		{"id too long", func(m *types.MsgAddService) { m.ServiceId = strings.Repeat("a", types.MaxServiceIDLength+1) }, types.ErrInvalidService},
		{"name too long", func(m *types.MsgAddService) { m.Name = strings.Repeat("n", types.MaxServiceNameLength+1) }, types.ErrInvalidService},
		{"zero compute units", func(m *types.MsgAddService) { m.ComputeUnitsPerRelay = 0 }, types.ErrInvalidService},
		{"too many compute units", func(m *types.MsgAddService) { m.ComputeUnitsPerRelay = types.MaxComputeUnitsPerRelay + 1 }, types.ErrInvalidService},
	}
	for name, addr := range malformedAddresses() {
		tests = append(tests, struct {
			name string
			edit func(*types.MsgAddService)
			err  error
		}{"owner " + name, func(m *types.MsgAddService) { m.OwnerAddress = addr }, types.ErrInvalidAddress})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := valid()
			tc.edit(msg)
			_, err := f.msgs.AddService(f.ctx, msg)
			require.ErrorIs(t, err, tc.err)
			has, err := f.k.Services.Has(f.ctx, msg.ServiceId)
			require.NoError(t, err)
			require.False(t, has, "a rejected service must not be stored")
		})
	}
	// The unedited message is accepted: the table's failures come from its edits.
	_, err := f.msgs.AddService(f.ctx, valid())
	require.NoError(t, err)
}
