package cli

import (
	"bufio"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/selfhub/hub/errors"
)

// ignoreFile is the file at a bucket folder's top whose patterns name
// what hub buck push leaves out, in .gitignore syntax.
const ignoreFile = ".buckignore"

// ignoreRule is one .buckignore pattern.
type ignoreRule struct {
	re      *regexp.Regexp // matches a slash-separated path from the folder's top
	negate  bool           // "!pattern": re-includes what an earlier rule left out
	dirOnly bool           // "pattern/": matches directories only
}

// ignorer decides which paths of a bucket folder push leaves out. The
// rules are .gitignore's for a single file at the top: blank lines and #
// comments are skipped; a pattern with a slash other than a trailing one
// is anchored at the top, one without matches at any depth; a trailing
// slash matches directories only; * and ? match within a name, [..] a
// class, ** any number of directories; ! re-includes; the last rule that
// matches wins. As in git, nothing under an ignored directory can be
// re-included: the walk does not enter it.
type ignorer struct{ rules []ignoreRule }

// parseIgnore reads .buckignore patterns from r.
func parseIgnore(r io.Reader) (*ignorer, error) {
	const op errors.Op = "cli.parseIgnore"
	ig := &ignorer{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var rule ignoreRule
		if strings.HasPrefix(line, "!") {
			rule.negate, line = true, line[1:]
		} else if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
			line = line[1:]
		}
		if strings.HasSuffix(line, "/") {
			rule.dirOnly, line = true, strings.TrimRight(line, "/")
		}
		if line == "" {
			continue
		}
		anchored := strings.Contains(line, "/")
		line = strings.TrimPrefix(line, "/")
		expr := globRegexp(line)
		if anchored {
			expr = "^" + expr + "$"
		} else {
			expr = "^(?:.*/)?" + expr + "$"
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, errors.Errorf(op, errors.Invalid, "%s line %d: %q is not a valid pattern (%v)", ignoreFile, n, sc.Text(), err)
		}
		rule.re = re
		ig.rules = append(ig.rules, rule)
	}
	if err := sc.Err(); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return ig, nil
}

// loadIgnore reads the .buckignore in dir; none means nothing is ignored.
func loadIgnore(file string) (*ignorer, error) {
	const op errors.Op = "cli.loadIgnore"
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return &ignorer{}, nil
	}
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	defer f.Close()
	return parseIgnore(f)
}

// globRegexp translates a gitignore glob into a regular expression body.
func globRegexp(g string) string {
	var b strings.Builder
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case strings.HasPrefix(g[i:], "**/") && (i == 0 || g[i-1] == '/'):
			b.WriteString("(?:.*/)?") // zero or more directories
			i += 2
		case strings.HasPrefix(g[i:], "**") && i+2 == len(g) && (i == 0 || g[i-1] == '/'):
			b.WriteString(".*") // everything inside
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '\\' && i+1 < len(g):
			i++
			b.WriteString(regexp.QuoteMeta(g[i : i+1]))
		case c == '[':
			end := strings.IndexByte(g[i+1:], ']')
			if end < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := g[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// ignored reports whether the path p (slash-separated, from the folder's
// top) is left out; dir says whether it is a directory.
func (ig *ignorer) ignored(p string, dir bool) bool {
	out := false
	for _, r := range ig.rules {
		if r.dirOnly && !dir {
			continue
		}
		if r.re.MatchString(p) {
			out = !r.negate
		}
	}
	return out
}
