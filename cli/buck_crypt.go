package cli

import (
	stderrors "errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/selfhub/hub/errors"
)

// Files that hub buck encrypt makes are age files (version 1 of the format
// at age-encryption.org/v1) with one scrypt recipient, so any age
// implementation opens them with the password (age -d), and hub needs no
// format of its own. In short, as this code relies on it:
//
//	header:  "age-encryption.org/v1\n"
//	         "-> scrypt <salt> <log2 N>\n" <wrapped file key>  (base64, no padding)
//	         "--- " <header MAC> "\n"
//	payload: nonce (16 random bytes) || sealed chunks
//
// A fresh random 16-byte file key is wrapped with ChaCha20-Poly1305 under
// scrypt(password, "age-encryption.org/v1/scrypt" || salt, N, r=8, p=1),
// with a 16-byte random salt and N = 2^18 (256 MiB of memory per guess,
// and about a second of work; --work-factor sets the exponent). The header MAC is HMAC-SHA256 over the header
// under a key derived from the file key with HKDF, so a header altered
// after it was written fails. The payload key is HKDF-SHA256(file key,
// nonce, "payload"); the plaintext is cut into 64 KiB chunks, each sealed
// with ChaCha20-Poly1305 under the nonce chunk index (11 bytes, big-endian)
// || last-chunk flag (1 byte) — the STREAM construction — so a changed,
// reordered, dropped or appended chunk, or a file cut short, fails to open.
// Both directions hold one chunk at a time: memory does not grow with the
// file.
//
// A wrong password and an altered wrapped key cannot be told apart: both
// fail to unwrap the file key. Decryption refuses a work factor above
// 2^maxScryptLogN, so a hostile file cannot make hub spend gigabytes of
// memory or minutes guessing.
const maxScryptLogN = 20

// defaultScryptLogN is the scrypt work factor (log2 of N) hub buck
// encrypt uses, age's own: 256 MiB of memory per guess.
const defaultScryptLogN = 18

// minScryptLogN is the least work factor --work-factor takes: below it a
// guess costs an attacker too little.
const minScryptLogN = 10

func (a *app) buckEncryptCommand() *cobra.Command {
	var (
		out  string
		logN int
	)
	cmd := &cobra.Command{
		Use:   "encrypt FILE [PASSWORD]",
		Short: "Encrypt a file with a password, for a bucket anyone can read",
		Long: `Encrypt FILE (- for stdin) with a password on this machine and write the
result to stdout (or --out): push that to a public bucket, and only those
who know the password can read it, with hub buck decrypt or any age tool
(age -d). The format is age v1 with scrypt; memory stays flat whatever the
file's size.

Without PASSWORD, hub asks for it on the terminal without echoing it, which
keeps it out of the shell history and the process list.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if logN < minScryptLogN || logN > maxScryptLogN {
				return errors.Errorf(cliOp, errors.Invalid, "--work-factor is %d; use %d to %d", logN, minScryptLogN, maxScryptLogN)
			}
			pw, err := a.password(args, true)
			if err != nil {
				return err
			}
			r, err := age.NewScryptRecipient(pw)
			if err != nil {
				return errors.E(cliOp, errors.Invalid, err)
			}
			r.SetWorkFactor(logN)
			return a.transform(args[0], out, func(dst io.Writer, src io.Reader) error {
				w, err := age.Encrypt(dst, r)
				if err != nil {
					return errors.E(cliOp, errors.Internal, err)
				}
				releaseKDFMemory()
				if _, err := io.Copy(w, src); err != nil {
					return errors.Errorf(cliOp, errors.Internal, "encrypting %s: %v", args[0], err)
				}
				if err := w.Close(); err != nil {
					return errors.Errorf(cliOp, errors.Internal, "encrypting %s: %v", args[0], err)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of stdout (made whole or not at all)")
	cmd.Flags().IntVar(&logN, "work-factor", defaultScryptLogN, fmt.Sprintf("scrypt work factor, log2 of N (%d to %d): each step doubles the memory and time one password guess costs", minScryptLogN, maxScryptLogN))
	return cmd
}

func (a *app) buckDecryptCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "decrypt FILE [PASSWORD]",
		Short: "Decrypt a file made by hub buck encrypt",
		Long: `Decrypt FILE (- for stdin), made by hub buck encrypt or age -p, with its
password, and write the plaintext to stdout (or --out). A wrong password,
and a file altered or cut short, are errors (exit status 1); with --out no
file is left then. Written to stdout, the chunks before a damaged one have
been written already: they are authentic, but the whole is not.

To read an encrypted file in the bucket: hub buck cat PATH | hub buck
decrypt - PASSWORD.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := a.password(args, false)
			if err != nil {
				return err
			}
			id, err := age.NewScryptIdentity(pw)
			if err != nil {
				return errors.E(cliOp, errors.Invalid, err)
			}
			id.SetMaxWorkFactor(maxScryptLogN)
			return a.transform(args[0], out, func(dst io.Writer, src io.Reader) error {
				return decrypt(args[0], dst, src, id)
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of stdout (only once the whole file is authentic)")
	return cmd
}

// decrypt writes the plaintext of the age file src (named name in
// messages) to dst.
func decrypt(name string, dst io.Writer, src io.Reader, id age.Identity) error {
	const op errors.Op = "cli.decrypt"
	r, err := age.Decrypt(src, id)
	var noMatch *age.NoIdentityMatchError
	switch {
	case stderrors.As(err, &noMatch):
		return errors.Errorf(op, errors.Invalid, "wrong password for %s", name)
	case err != nil && strings.Contains(err.Error(), "failed to read header"):
		return errors.Errorf(op, errors.Invalid, "%s is not a file hub buck encrypt made: it does not start with an age header", name)
	case err != nil:
		return errors.Errorf(op, errors.DataLoss, "%s is damaged or was altered: %v", name, err)
	}
	releaseKDFMemory()
	w := &countingWriter{w: dst}
	if _, err := io.Copy(w, r); err != nil {
		if w.err != nil {
			return errors.E(op, errors.Internal, w.err)
		}
		return errors.Errorf(op, errors.DataLoss, "%s is damaged, altered or cut short: only its first %d bytes are authentic", name, w.n)
	}
	return nil
}

// countingWriter counts what it writes, and keeps the write error, so a
// failed copy tells a bad destination from a bad source.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}

// releaseKDFMemory collects scrypt's buffer (256 MiB at the default work
// factor), garbage once the key is derived. Without it the collector's
// next goal stays at twice that, and the stream's per-chunk garbage piles
// up to it: a big file's decryption measured 250 MiB more than a small
// one's (TestE2EBuckEncryptLarge). After it, memory stays flat.
func releaseKDFMemory() { runtime.GC() }

// password returns the PASSWORD argument, else asks for it (twice when
// confirm) on a terminal. Asking needs stdin, so it cannot be the file.
func (a *app) password(args []string, confirm bool) (string, error) {
	if len(args) == 2 {
		if args[1] == "" {
			return "", errors.E(cliOp, errors.Invalid, "the password is empty; choose one")
		}
		return args[1], nil
	}
	if !a.interactive() || args[0] == "-" {
		return "", errors.E(cliOp, errors.Invalid, "PASSWORD is required when stdin is not a terminal (or is the file)")
	}
	for {
		pw, err := a.askSecret("Password: ")
		if err != nil || !confirm {
			return pw, err
		}
		again, err := a.askSecret("The same password again: ")
		if err != nil || again == pw {
			return pw, err
		}
		fmt.Fprintln(a.stderr, "The passwords differ; try again.")
	}
}

// transform runs fn from the file in (stdin for -) to stdout, or to the
// file out, which appears only if fn succeeds (replaceFile).
func (a *app) transform(in, out string, fn func(dst io.Writer, src io.Reader) error) error {
	const op errors.Op = "cli.transform"
	src := a.stdin
	if in != "-" {
		f, err := os.Open(in)
		if os.IsNotExist(err) {
			return errors.E(op, errors.NotExist, err)
		}
		if err != nil {
			return errors.E(op, errors.Invalid, err)
		}
		defer f.Close()
		src = f
	} else if src == nil {
		src = strings.NewReader("")
	}
	if out == "" {
		return fn(a.stdout, src)
	}
	return replaceFile(op, out, "."+filepath.Base(out)+".tmp-*", func(dst io.Writer) error { return fn(dst, src) })
}
