package types

import (
	"fmt"

	errorsmod "cosmossdk.io/errors"
)

// DefaultGenesis is the genesis of a new chain: default params, nothing staked.
func DefaultGenesis() *GenesisState {
	return &GenesisState{Params: DefaultParams()}
}

// Validate checks the genesis state: params, and that every entry is well
// formed, unique and refers to known services.
func (gs GenesisState) Validate() error {
	if err := gs.Params.Validate(); err != nil {
		return err
	}
	denom := gs.Params.StakeDenom()
	services := map[string]bool{}
	for i, s := range gs.Services {
		if err := s.ValidateBasic(); err != nil {
			return errorsmod.Wrapf(err, "services[%d]", i)
		}
		if err := validateAddress("owner_address", s.OwnerAddress); err != nil {
			return errorsmod.Wrapf(err, "services[%d]", i)
		}
		if services[s.Id] {
			return errorsmod.Wrapf(ErrInvalidService, "services[%d]: service %q listed twice", i, s.Id)
		}
		services[s.Id] = true
	}
	known := func(field string, ids []string) error {
		if err := validateServiceIDs(ids); err != nil {
			return errorsmod.Wrap(err, field)
		}
		for _, id := range ids {
			if !services[id] {
				return errorsmod.Wrapf(ErrServiceNotFound, "%s: service %q is not in genesis services", field, id)
			}
		}
		return nil
	}
	apps := map[string]bool{}
	for i, a := range gs.Applications {
		field := fmt.Sprintf("applications[%d]", i)
		if err := validateAddress(field+".address", a.Address); err != nil {
			return err
		}
		if apps[a.Address] {
			return errorsmod.Wrapf(ErrApplicationAlreadyStaked, "%s: %s listed twice", field, a.Address)
		}
		apps[a.Address] = true
		if err := validateStakeCoin(field+".stake", a.Stake); err != nil {
			return err
		}
		if a.Stake.Denom != denom {
			return errorsmod.Wrapf(ErrInvalidStake, "%s.stake: denom %q, want %q", field, a.Stake.Denom, denom)
		}
		if err := known(field+".service_ids", a.ServiceIds); err != nil {
			return err
		}
	}
	suppliers := map[string]bool{}
	for i, s := range gs.Suppliers {
		field := fmt.Sprintf("suppliers[%d]", i)
		if err := validateAddress(field+".operator_address", s.OperatorAddress); err != nil {
			return err
		}
		if suppliers[s.OperatorAddress] {
			return errorsmod.Wrapf(ErrSupplierAlreadyStaked, "%s: %s listed twice", field, s.OperatorAddress)
		}
		suppliers[s.OperatorAddress] = true
		if err := validateStakeCoin(field+".stake", s.Stake); err != nil {
			return err
		}
		if s.Stake.Denom != denom {
			return errorsmod.Wrapf(ErrInvalidStake, "%s.stake: denom %q, want %q", field, s.Stake.Denom, denom)
		}
		ids := make([]string, len(s.Services))
		for j, svc := range s.Services {
			if err := svc.ValidateBasic(); err != nil {
				return errorsmod.Wrapf(err, "%s.services[%d]", field, j)
			}
			ids[j] = svc.ServiceId
		}
		if err := known(field+".services", ids); err != nil {
			return err
		}
	}
	return nil
}
