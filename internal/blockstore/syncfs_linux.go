package blockstore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes every dirty file and directory of the file system that
// holds dir, in one call. syncfs(2) reports write-back errors since Linux
// 5.8; on older kernels a failed write-back goes unreported.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// startWriteback asks the kernel to start writing f's dirty pages now,
// without waiting for them (sync_file_range SYNC_FILE_RANGE_WRITE): it
// makes nothing durable, it only spreads the disk writes over the push.
func startWriteback(f *os.File) {
	unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}
