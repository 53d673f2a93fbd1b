// Package diskfault makes a RelayMiner store's disk fill up on demand: it
// wraps goleveldb's on-disk storage (store.Options.WrapStorage) so that, while
// full, every file write fails with ENOSPC, as on a full disk. Tests only.
package diskfault

import (
	"sync/atomic"
	"syscall"

	"github.com/syndtr/goleveldb/leveldb/storage"
)

// Disk is a switch shared by the storages it wraps.
type Disk struct{ full atomic.Bool }

// SetFull makes writes fail (true) or succeed again (false).
func (d *Disk) SetFull(full bool) { d.full.Store(full) }

// Wrap is the store.Options.WrapStorage of this disk.
func (d *Disk) Wrap(s storage.Storage) storage.Storage { return &stor{Storage: s, d: d} }

type stor struct {
	storage.Storage
	d *Disk
}

func (s *stor) Create(fd storage.FileDesc) (storage.Writer, error) {
	if s.d.full.Load() {
		return nil, syscall.ENOSPC
	}
	w, err := s.Storage.Create(fd)
	if err != nil {
		return nil, err
	}
	return &writer{Writer: w, d: s.d}, nil
}

func (s *stor) SetMeta(fd storage.FileDesc) error {
	if s.d.full.Load() {
		return syscall.ENOSPC
	}
	return s.Storage.SetMeta(fd)
}

type writer struct {
	storage.Writer
	d *Disk
}

func (w *writer) Write(p []byte) (int, error) {
	if w.d.full.Load() {
		return 0, syscall.ENOSPC
	}
	return w.Writer.Write(p)
}

func (w *writer) Sync() error {
	if w.d.full.Load() {
		return syscall.ENOSPC
	}
	return w.Writer.Sync()
}
