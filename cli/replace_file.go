package cli

import (
	stderrors "errors"
	"io"
	"os"
	"path/filepath"

	"github.com/selfhub/hub/errors"
)

// replaceFile makes file hold what write writes, whole or not at all: write
// fills a temporary file beside file (named by pattern, as os.CreateTemp
// names; mode 0600), which is synced and renamed over file only once write
// has succeeded. A crash or a failed write leaves the old file or the new
// one, never half of one. An error of write keeps its kind (one without a
// kind is Internal); the file system's are Internal.
func replaceFile(op errors.Op, file, pattern string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), pattern)
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	err = write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil && !stderrors.As(err, new(*errors.Error)) {
		return errors.E(op, errors.Internal, err)
	}
	return err
}
