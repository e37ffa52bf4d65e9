package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// configName is the file, inside the config directory, that holds the
// session and the account it belongs to.
const configName = "config.json"

// config is what hub remembers between runs. It holds a session ID, a
// bearer credential, so the file is private to its owner (mode 0600).
type config struct {
	// API is the hubd address the session was opened against; later
	// commands use it unless --api or HUB_API says otherwise.
	API      string     `json:"api,omitempty"`
	Session  string     `json:"session,omitempty"`
	Username string     `json:"username,omitempty"`
	Email    string     `json:"email,omitempty"`
	Key      hub.PubKey `json:"key,omitempty"`
}

// configDir returns HUB_HOME, else .hub in the home directory. The home
// directory comes from env rather than the process so tests can move it.
func configDir(env func(string) string) (string, error) {
	const op errors.Op = "cli.configDir"
	if d := env(envPrefix + "HOME"); d != "" {
		return d, nil
	}
	for _, v := range []string{"HOME", "USERPROFILE"} {
		if h := env(v); h != "" {
			return filepath.Join(h, ".hub"), nil
		}
	}
	return "", errors.E(op, errors.FailedPrecondition,
		"cannot find a home directory; set HUB_HOME to the directory where hub should keep its config")
}

// readConfig reads the config in dir. A missing file is an empty config;
// unknown keys are refused, so a typo does not pass silently.
func readConfig(dir string) (config, error) {
	const op errors.Op = "cli.readConfig"
	file := filepath.Join(dir, configName)
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return config{}, nil
	}
	if err != nil {
		return config{}, errors.E(op, errors.Internal, err)
	}
	var c config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return config{}, errors.Errorf(op, errors.Invalid, "%s is not a valid hub config (%v); fix or delete it and run hub login", file, err)
	}
	return c, nil
}

// writeConfig replaces the config in dir, creating dir (mode 0700: the
// config holds a bearer credential) if needed.
func writeConfig(dir string, c config) error {
	return writeJSONFile(filepath.Join(dir, configName), c, 0o700)
}

// writeJSONFile replaces file with v as indented JSON, creating file's
// directory with mode dirPerm if needed. The file is replaced whole or not
// at all, with mode 0600 (replaceFile).
func writeJSONFile(file string, v any, dirPerm os.FileMode) error {
	const op errors.Op = "cli.writeJSONFile"
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), dirPerm); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	return replaceFile(op, file, filepath.Base(file)+".*", func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// loadConfig reads the config of this run, and returns the directory it
// lives in for a later saveConfig.
func (a *app) loadConfig() (config, string, error) {
	dir, err := configDir(a.env)
	if err != nil {
		return config{}, "", err
	}
	c, err := readConfig(dir)
	return c, dir, err
}
