package cli

import (
	"bytes"
	"encoding/json"
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
	if d := env(envPrefix + "HOME"); d != "" {
		return d, nil
	}
	for _, v := range []string{"HOME", "USERPROFILE"} {
		if h := env(v); h != "" {
			return filepath.Join(h, ".hub"), nil
		}
	}
	return "", errors.E(errors.Op("cli.configDir"), errors.FailedPrecondition,
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

// writeConfig replaces the config in dir, creating dir (mode 0700) if
// needed. It writes a temporary file and renames it, so a crash leaves the
// old config or the new one, never half of one.
func writeConfig(dir string, c config) error {
	const op errors.Op = "cli.writeConfig"
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	b = append(b, '\n')
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	f, err := os.CreateTemp(dir, configName+".*") // created with mode 0600
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return errors.E(op, errors.Internal, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return errors.E(op, errors.Internal, err)
	}
	if err := f.Close(); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, configName)); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	return nil
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
