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
