package types

import (
	"net/url"
	"regexp"

	errorsmod "cosmossdk.io/errors"
	sdk "github.com/cosmos/cosmos-sdk/types"
)

// Limits on user-supplied strings, so no message can bloat state.
const (
	MaxServiceIDLength   = 64
	MaxServiceNameLength = 256
	MaxEndpointURLLength = 2048
	MaxServicesPerStake  = 64
	// MaxComputeUnitsPerRelay keeps count × compute units far from overflow.
	MaxComputeUnitsPerRelay = 1 << 32
)

var serviceIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// sessionIDPattern is the shape of protocol.SessionID: lowercase hex sha256.
var sessionIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidateServiceID checks a service id is short and URL-safe.
func ValidateServiceID(id string) error {
	if id == "" {
		return errorsmod.Wrap(ErrInvalidService, "service id is empty")
	}
	if len(id) > MaxServiceIDLength {
		return errorsmod.Wrapf(ErrInvalidService, "service id %q is longer than %d characters", id, MaxServiceIDLength)
	}
	if !serviceIDPattern.MatchString(id) {
		return errorsmod.Wrapf(ErrInvalidService, "service id %q may only hold letters, digits, '-' and '_'", id)
	}
	return nil
}

// ValidateBasic checks a service's fields, without the owner.
func (s Service) ValidateBasic() error {
	if err := ValidateServiceID(s.Id); err != nil {
		return err
	}
	if len(s.Name) > MaxServiceNameLength {
		return errorsmod.Wrapf(ErrInvalidService, "service name is longer than %d characters", MaxServiceNameLength)
	}
	if s.ComputeUnitsPerRelay < 1 || s.ComputeUnitsPerRelay > MaxComputeUnitsPerRelay {
		return errorsmod.Wrapf(ErrInvalidService, "compute_units_per_relay must be in [1, %d], got %d", uint64(MaxComputeUnitsPerRelay), s.ComputeUnitsPerRelay)
	}
	return nil
}

// ValidateBasic checks a supplier's service entry: a known service id shape,
// an absolute http(s) URL and an RPC type.
func (s SupplierService) ValidateBasic() error {
	if err := ValidateServiceID(s.ServiceId); err != nil {
		return errorsmod.Wrap(ErrInvalidServiceConfig, err.Error())
	}
	if len(s.EndpointUrl) > MaxEndpointURLLength {
		return errorsmod.Wrapf(ErrInvalidServiceConfig, "endpoint_url of service %q is longer than %d characters", s.ServiceId, MaxEndpointURLLength)
	}
	u, err := url.Parse(s.EndpointUrl)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return errorsmod.Wrapf(ErrInvalidServiceConfig, "endpoint_url %q of service %q is not an http(s) URL", s.EndpointUrl, s.ServiceId)
	}
	if s.RpcType == RPCType_RPC_TYPE_UNSPECIFIED {
		return errorsmod.Wrapf(ErrInvalidServiceConfig, "rpc_type of service %q is unspecified", s.ServiceId)
	}
	if _, ok := RPCType_name[int32(s.RpcType)]; !ok {
		return errorsmod.Wrapf(ErrInvalidServiceConfig, "rpc_type %d of service %q is unknown", s.RpcType, s.ServiceId)
	}
	return nil
}

// ValidateBasic checks a session header's shape (not that it matches the
// chain: only the keeper can say that).
func (h *SessionHeader) ValidateBasic() error {
	if h == nil {
		return errorsmod.Wrap(ErrInvalidSessionHeader, "session header is missing")
	}
	if err := validateAddress("application_address", h.ApplicationAddress); err != nil {
		return errorsmod.Wrap(ErrInvalidSessionHeader, err.Error())
	}
	if err := ValidateServiceID(h.ServiceId); err != nil {
		return errorsmod.Wrap(ErrInvalidSessionHeader, err.Error())
	}
	if !sessionIDPattern.MatchString(h.SessionId) {
		return errorsmod.Wrapf(ErrInvalidSessionHeader, "session_id %q is not 64 hex characters", h.SessionId)
	}
	if h.SessionStartBlockHeight < 1 || h.SessionEndBlockHeight < h.SessionStartBlockHeight {
		return errorsmod.Wrapf(ErrInvalidSessionHeader, "session heights %d-%d are not a range of positive heights", h.SessionStartBlockHeight, h.SessionEndBlockHeight)
	}
	return nil
}

func validateAddress(field, addr string) error {
	if _, err := sdk.AccAddressFromBech32(addr); err != nil {
		return errorsmod.Wrapf(ErrInvalidAddress, "%s %q: %v", field, addr, err)
	}
	return nil
}

func validateStakeCoin(field string, c sdk.Coin) error {
	if err := c.Validate(); err != nil {
		return errorsmod.Wrapf(ErrInvalidStake, "%s: %v", field, err)
	}
	if !c.IsPositive() {
		return errorsmod.Wrapf(ErrInvalidStake, "%s must be positive, got %s", field, c)
	}
	return nil
}

func validateServiceIDs(ids []string) error {
	if len(ids) == 0 {
		return errorsmod.Wrap(ErrInvalidService, "at least one service id is required")
	}
	if len(ids) > MaxServicesPerStake {
		return errorsmod.Wrapf(ErrInvalidService, "at most %d services, got %d", MaxServicesPerStake, len(ids))
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if err := ValidateServiceID(id); err != nil {
			return err
		}
		if seen[id] {
			return errorsmod.Wrapf(ErrInvalidService, "service %q listed twice", id)
		}
		seen[id] = true
	}
	return nil
}
