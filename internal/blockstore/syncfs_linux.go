package blockstore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes every dirty file and directory of the file system that
// holds dir, in one call.
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
