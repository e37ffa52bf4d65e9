package db

import (
	"regexp"
	"strings"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads/db/jsfunc"
)

// Index is an index on a field path of a collection's instances.
type Index struct {
	Path   string `json:"path"`
	Unique bool   `json:"unique,omitempty"`
}

// CollectionConfig describes a collection: its name, JSON Schema, indexes,
// and the JavaScript function bodies that validate writes and filter reads.
type CollectionConfig struct {
	Name           string  `json:"name"`
	Schema         []byte  `json:"schema,omitempty"`
	Indexes        []Index `json:"indexes,omitempty"`
	WriteValidator string  `json:"writeValidator,omitempty"`
	ReadFilter     string  `json:"readFilter,omitempty"`
}

// Limits on collection definitions.
const (
	maxCollectionName = 100
	maxIndexes        = 64
	maxIndexPath      = 256
	maxIDLen          = 256
)

var collectionNameRe = regexp.MustCompile(`^[A-Za-z0-9]+(?:[-][A-Za-z0-9]+)*$`)

// collection is a collection's config with its schema and functions
// compiled, ready to check writes and filter reads.
type collection struct {
	config    CollectionConfig
	schema    schema
	validator *jsfunc.Validator // nil: none
	filter    *jsfunc.Filter    // nil: none
	// record is the collection's stored record as of the last reload, for
	// write transactions, which run under the lock that reloads it.
	record colRecord
}

// compile checks a collection config and compiles its parts, its scripts
// for tenant (see Info.tenant). Every refusal is Invalid and says what to
// fix. stored says the config was stored earlier: a schema over this hub's
// limits is then kept, refusing writes, rather than making the collection
// unreadable.
func (m *Manager) compile(op errors.Op, cfg CollectionConfig, tenant string, stored bool) (*collection, error) {
	if !collectionNameRe.MatchString(cfg.Name) || len(cfg.Name) > maxCollectionName {
		return nil, errors.Errorf(op, errors.Invalid, "collection name %q must be letters and digits, with single '-' between them, at most %d characters", errors.Clip(cfg.Name), maxCollectionName)
	}
	if len(cfg.Indexes) > maxIndexes {
		return nil, errors.Errorf(op, errors.Invalid, "collection %s has %d indexes; at most %d are allowed", cfg.Name, len(cfg.Indexes), maxIndexes)
	}
	seen := map[string]bool{}
	for _, ix := range cfg.Indexes {
		if err := checkPath(op, ix.Path); err != nil {
			return nil, err
		}
		if ix.Path == "_id" {
			return nil, errors.E(op, errors.Invalid, "_id is always indexed; do not list it in indexes")
		}
		if seen[ix.Path] {
			return nil, errors.Errorf(op, errors.Invalid, "index on %q is listed twice", ix.Path)
		}
		seen[ix.Path] = true
	}
	c := &collection{config: cfg}
	var err error
	if c.schema, err = compileSchema(op, cfg.Schema, m.cfg.Schemas, stored); err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.WriteValidator) != "" {
		if c.validator, err = m.scripts.CompileValidator(tenant, cfg.WriteValidator); err != nil {
			return nil, errors.E(op, errors.Invalid, err)
		}
	}
	if strings.TrimSpace(cfg.ReadFilter) != "" {
		if c.filter, err = m.scripts.CompileFilter(tenant, cfg.ReadFilter); err != nil {
			return nil, errors.E(op, errors.Invalid, err)
		}
	}
	return c, nil
}

// checkPath checks a dot-separated field path.
func checkPath(op errors.Op, path string) error {
	if path == "" || len(path) > maxIndexPath || strings.ContainsRune(path, 0) {
		return errors.Errorf(op, errors.Invalid, "index path %q must be 1 to %d characters without NUL", errors.Clip(path), maxIndexPath)
	}
	for _, seg := range strings.Split(path, ".") {
		if seg == "" {
			return errors.Errorf(op, errors.Invalid, "index path %q has an empty segment", errors.Clip(path))
		}
	}
	return nil
}

// unique reports whether path has a unique index.
func (c *collection) unique(path string) bool {
	for _, ix := range c.config.Indexes {
		if ix.Path == path {
			return ix.Unique
		}
	}
	return false
}

// indexPaths lists the indexed paths.
func (c *collection) indexPaths() []string {
	out := make([]string, len(c.config.Indexes))
	for i, ix := range c.config.Indexes {
		out[i] = ix.Path
	}
	return out
}
