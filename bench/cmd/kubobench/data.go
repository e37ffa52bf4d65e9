package main

import (
	"bufio"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"

	"github.com/selfhub/hub/errors"
)

// writeRandomFile writes size pseudo-random bytes, a different stream for
// each seed (so no repetition finds its blocks already stored), to path
// and syncs it.
func writeRandomFile(path string, size int64, seed uint64) error {
	const op errors.Op = "kubobench.writeRandomFile"
	f, err := os.Create(path)
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	_, err = io.Copy(w, io.LimitReader(random(seed, 0), size))
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	return nil
}

// writeSmallFiles writes n files of size pseudo-random bytes into dir and
// returns their names, in the order written.
func writeSmallFiles(dir string, n, size int, seed uint64) ([]string, error) {
	const op errors.Op = "kubobench.writeSmallFiles"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	src := random(seed, 1)
	buf := make([]byte, size)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%05d.bin", i)
		if _, err := io.ReadFull(src, buf); err != nil {
			return nil, errors.E(op, errors.Internal, err)
		}
		if err := os.WriteFile(filepath.Join(dir, names[i]), buf, 0o644); err != nil {
			return nil, errors.E(op, errors.Internal, err)
		}
	}
	return names, nil
}

// random returns a fast pseudo-random byte stream for (seed, stream).
func random(seed, stream uint64) io.Reader {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(stream)
	return mrand.NewChaCha8(key)
}

// lazyFile opens path on its first Read and closes it at the end or on an
// error, so a push of thousands of files holds one open at a time.
type lazyFile struct {
	path string
	f    *os.File
}

func (l *lazyFile) Read(p []byte) (int, error) {
	if l.f == nil {
		f, err := os.Open(l.path)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	n, err := l.f.Read(p)
	if err != nil {
		l.f.Close()
	}
	return n, err
}
