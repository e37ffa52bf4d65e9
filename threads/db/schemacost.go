package db

// The cost of validating an instance against a collection's JSON Schema.
//
// The validator cannot be interrupted at every step: it takes no context,
// and a budget kept by a custom keyword is only consulted after a
// subschema's children have been checked, and not at all on the paths
// that fail early. So the bound is static (the time limit of
// schemadeadline.go, kept by such a keyword, comes on top of it). When a schema is set, costOf walks its compiled graph
// and finds P, the most subschemas that may be applied to any one value of
// any instance. A write is then checked against at most P x (values+keys)
// subschemas, and the write is refused before validation when that product
// passes the hub's limit (SchemaLimits.MaxWork).
//
// The validator applies a subschema to a value along "same-value" edges
// ($ref, allOf, anyOf, oneOf, not, if/then/else, dependentSchemas, …) and
// to the value's children along "child" edges (properties, items, …).
// The number of times a value at depth d is checked is at most the number
// of walks from the root that take d child edges whose keys spell the
// value's path. costOf counts those walks level by level: a level vector
// holds, for one class of key path, the walks that reach each subschema,
// where a key's class is a property name the schema names, any other name,
// a tuple index or any other index (a name matching a pattern counts as
// matching every pattern: the count stays an upper bound). A schema whose
// recursion passes through two branches applying to the same value (the
// exponential
// {"allOf":[{"properties":{"a":{"$ref":"#"}}},{"properties":{"a":{"$ref":"#"}}}]})
// doubles its count at every level and is refused; a tree
// ({"properties":{"children":{"items":{"$ref":"#"}}}}) keeps a count of two
// per value (the $ref and its target) and is accepted. Equal vectors lead
// to equal vectors, so each is followed once, and the count ends when no
// new vector appears; counts that keep changing without passing the
// limit, as a chain of recursions may, are refused when they take more
// levels than the schema has subschemas (and some slack).
//
// Dynamic references ($dynamicRef, $recursiveRef) resolve at validation
// time; costOf accepts them only where the document has a single matching
// anchor, so that they resolve to their static target.

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// maxAnalysis bounds the steps of costOf (map updates, mostly), so that
// setting a schema takes bounded time whatever its shape. Schemas of a
// few thousand subschemas stay well under it.
const maxAnalysis = 1 << 21

// costGraph is a compiled schema as costOf sees it: the subschemas reached
// from the root, numbered, with their same-value edges.
type costGraph struct {
	loc   string // the document's location, a prefix of every own subschema's
	nodes []*jsonschema.Schema
	index map[*jsonschema.Schema]int
	same  [][]int // same[i]: subschemas applied to the value node i is applied to
	// parent[i] says node i applies subschemas to the children of its value.
	parent []bool
	rank   []int // rank[i]: node i's place in an order of the same-value edges
	steps  int   // analysis steps taken, against maxAnalysis
}

// costError is a refusal of costOf; the caller adds the op and the kind.
type costError string

func (e costError) Error() string { return string(e) }

// costOf returns P, the most subschemas that may apply to one value, or an
// error saying why the schema cannot be bounded by limit. raw is the
// schema document (to count dynamic anchors); loc is its location.
func costOf(root *jsonschema.Schema, raw any, loc string, limit int64) (int64, error) {
	g := &costGraph{loc: loc, index: map[*jsonschema.Schema]int{}}
	if err := g.collect(root, raw); err != nil {
		return 0, err
	}
	if err := g.order(); err != nil {
		return 0, err
	}
	return g.levels(limit)
}

// step counts n analysis steps and fails past maxAnalysis.
func (g *costGraph) step(n int) error {
	g.steps += n
	if g.steps > maxAnalysis {
		return costError("the schema is too complex to bound (too many subschemas applying to one another); simplify it or split it")
	}
	return nil
}

// where names a subschema for a message: its JSON pointer in the document.
func (g *costGraph) where(i int) string {
	return strings.TrimPrefix(g.nodes[i].Location, g.loc)
}

// add numbers s, the first time it is seen.
func (g *costGraph) add(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if _, ok := g.index[s]; !ok {
		g.index[s] = len(g.nodes)
		g.nodes = append(g.nodes, s)
	}
}

// collect numbers every subschema reachable from root, breadth first, and
// records their same-value edges.
func (g *costGraph) collect(root *jsonschema.Schema, raw any) error {
	g.add(root)
	dynamic, recursive := anchorCounts(raw)
	for i := 0; i < len(g.nodes); i++ {
		if err := g.step(1); err != nil {
			return err
		}
		s := g.nodes[i]
		same, err := g.sameValue(s, dynamic, recursive)
		if err != nil {
			return err
		}
		for _, t := range same {
			g.add(t)
		}
		children := childSchemas(s)
		for _, t := range children {
			g.add(t)
		}
		g.parent = append(g.parent, len(children) > 0)
		ids := make([]int, len(same))
		for j, t := range same {
			ids[j] = g.index[t]
		}
		g.same = append(g.same, ids)
	}
	return nil
}

// sameValue lists the subschemas the validator applies to the value s is
// applied to. dynamic and recursive count the document's $dynamicAnchor
// names and $recursiveAnchor: true members.
func (g *costGraph) sameValue(s *jsonschema.Schema, dynamic map[string]int, recursive int) ([]*jsonschema.Schema, error) {
	if s.Bool != nil {
		return nil, nil
	}
	if s.Ref != nil && s.DraftVersion < 2019 {
		return []*jsonschema.Schema{s.Ref}, nil // before 2019-09, $ref hides its siblings
	}
	var out []*jsonschema.Schema
	if s.Ref != nil {
		out = append(out, s.Ref)
	}
	if r := s.RecursiveRef; r != nil {
		if r.RecursiveAnchor {
			if err := g.oneTarget(s, r, "$recursiveRef", "$recursiveAnchor", recursive); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	if r := s.DynamicRef; r != nil {
		if r.Anchor != "" && r.Ref.DynamicAnchor == r.Anchor {
			if err := g.oneTarget(s, r.Ref, "$dynamicRef", fmt.Sprintf("$dynamicAnchor %q", r.Anchor), dynamic[r.Anchor]); err != nil {
				return nil, err
			}
		}
		out = append(out, r.Ref)
	}
	out = append(out, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	for _, t := range []*jsonschema.Schema{s.Not, s.If, s.Then, s.Else} {
		if t != nil {
			out = append(out, t)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.DependentSchemas)) {
		out = append(out, s.DependentSchemas[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.Dependencies)) {
		if t, ok := s.Dependencies[k].(*jsonschema.Schema); ok {
			out = append(out, t)
		}
	}
	return out, nil
}

// oneTarget checks that a dynamic reference of s (keyword kw) can only
// resolve to its static target: the target is in the schema document,
// and anchors of its kind (what) number one there.
func (g *costGraph) oneTarget(s, target *jsonschema.Schema, kw, what string, anchors int) error {
	at := strings.TrimPrefix(s.Location, g.loc)
	if !strings.HasPrefix(target.Location, g.loc) {
		return costError(fmt.Sprintf("%s at %s resolves among schemas of another document (%s); refer to a draft-07 meta-schema or inline what you need", kw, at, target.Location))
	}
	if anchors != 1 {
		return costError(fmt.Sprintf("%s at %s may resolve to any of the schemas with a %s; keep a single one in the schema", kw, at, what))
	}
	return nil
}

// anchorCounts counts, in a schema document, the members "$dynamicAnchor"
// by name and the members "$recursiveAnchor": true. Members inside
// non-schema values (enum, const) are counted too, which can only make
// costOf refuse more.
func anchorCounts(doc any) (dynamic map[string]int, recursive int) {
	dynamic = map[string]int{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if name, ok := v["$dynamicAnchor"].(string); ok {
				dynamic[name]++
			}
			if b, ok := v["$recursiveAnchor"].(bool); ok && b {
				recursive++
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	return dynamic, recursive
}

// childSchemas lists every subschema s applies to the children (or, for
// propertyNames, the keys) of its value.
func childSchemas(s *jsonschema.Schema) []*jsonschema.Schema {
	if s.Bool != nil || (s.Ref != nil && s.DraftVersion < 2019) {
		return nil
	}
	var out []*jsonschema.Schema
	for _, k := range slices.Sorted(maps.Keys(s.Properties)) {
		out = append(out, s.Properties[k])
	}
	for _, t := range s.PatternProperties {
		out = append(out, t)
	}
	out = append(out, s.PrefixItems...)
	if items, ok := s.Items.([]*jsonschema.Schema); ok {
		out = append(out, items...)
	}
	for _, t := range []any{s.AdditionalProperties, s.Items, s.AdditionalItems, s.Items2020, s.Contains,
		s.UnevaluatedProperties, s.UnevaluatedItems, s.PropertyNames, s.ContentSchema} {
		if t, ok := t.(*jsonschema.Schema); ok && t != nil {
			out = append(out, t)
		}
	}
	return out
}

// key is a class of child keys: a property name the schema names, any
// other name (other), a tuple index, or any other index.
type key struct {
	array bool
	name  string // a property name, when !array && !other
	index int    // a tuple index, when array && !other
	other bool
}

// childEdges lists the subschemas s applies to a child whose key is of
// class k.
func childEdges(s *jsonschema.Schema, k key) []*jsonschema.Schema {
	if s.Bool != nil || (s.Ref != nil && s.DraftVersion < 2019) {
		return nil
	}
	var out []*jsonschema.Schema
	add := func(v any) {
		if t, ok := v.(*jsonschema.Schema); ok && t != nil {
			out = append(out, t)
		}
	}
	if !k.array {
		// A named property meets properties; every name may match a
		// pattern; additionalProperties applies where properties do not
		// (counted even where a pattern matches: an upper bound).
		if t, ok := s.Properties[k.name]; ok && !k.other {
			out = append(out, t)
		} else {
			add(s.AdditionalProperties)
		}
		for _, t := range s.PatternProperties {
			out = append(out, t)
		}
		add(s.UnevaluatedProperties)
		add(s.PropertyNames) // applied to the key, a value of its own
		return out
	}
	switch items := s.Items.(type) {
	case *jsonschema.Schema:
		out = append(out, items)
	case []*jsonschema.Schema:
		if !k.other && k.index < len(items) {
			out = append(out, items[k.index])
		} else {
			add(s.AdditionalItems)
		}
	}
	if !k.other && k.index < len(s.PrefixItems) {
		out = append(out, s.PrefixItems[k.index])
	} else {
		add(s.Items2020)
	}
	add(s.Contains)
	add(s.UnevaluatedItems)
	return out
}

// order numbers the subschemas so that every same-value edge goes from a
// lower number to a higher one, into g.rank. It refuses same-value cycles:
// a schema applying itself to the value it is checking, which the
// validator reports as an error on every instance that reaches it.
func (g *costGraph) order() error {
	const (
		unseen = iota
		open
		done
	)
	state := make([]int, len(g.nodes))
	post := make([]int, 0, len(g.nodes))
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case open:
			return costError(fmt.Sprintf("the schema at %s applies itself to the value it is checking (a $ref cycle that never descends into the instance); recurse only through properties or items", g.where(i)))
		case done:
			return nil
		}
		state[i] = open
		for _, j := range g.same[i] {
			if err := visit(j); err != nil {
				return err
			}
		}
		state[i] = done
		post = append(post, i)
		return nil
	}
	for i := range g.nodes {
		if err := visit(i); err != nil {
			return err
		}
	}
	g.rank = make([]int, len(g.nodes))
	for r, i := range post {
		g.rank[i] = len(post) - 1 - r
	}
	return nil
}

// expand returns how many walks reach each subschema from seeds (counts
// of walks reaching them) along same-value edges, seeds included. It
// refuses a count above limit: a subschema applied that many times to one
// value through branches.
func (g *costGraph) expand(seeds map[int]int64, limit int64) (map[int]int64, error) {
	reached := map[int]int64{}
	var todo []int
	var mark func(i int)
	mark = func(i int) {
		if _, ok := reached[i]; ok {
			return
		}
		reached[i] = 0
		todo = append(todo, i)
		for _, j := range g.same[i] {
			mark(j)
		}
	}
	for i := range seeds {
		mark(i)
	}
	if err := g.step(len(todo)); err != nil {
		return nil, err
	}
	for i, n := range seeds {
		reached[i] = n
	}
	slices.SortFunc(todo, func(a, b int) int { return g.rank[a] - g.rank[b] })
	for _, i := range todo {
		n := reached[i]
		if n > limit {
			return nil, costError(fmt.Sprintf("the schema at %s may be applied more than %d times to one value through allOf/anyOf/oneOf/$ref branches; this hub's limit is %d", g.where(i), limit, limit))
		}
		if err := g.step(len(g.same[i])); err != nil {
			return nil, err
		}
		for _, j := range g.same[i] {
			reached[j] = satAdd(reached[j], n)
		}
	}
	return reached, nil
}

// levels follows the instance's levels down from the root: for each class
// of key path it keeps the count of walks that reach each subschema (a
// level vector), and it returns the largest total of any vector: the most
// subschemas one value may meet. Equal vectors lead to equal vectors, so
// each is followed once; the walk ends when no new vector appears. See the
// comment at the top of the file.
func (g *costGraph) levels(limit int64) (int64, error) {
	root, err := g.expand(map[int]int64{0: 1}, limit)
	if err != nil {
		return 0, err
	}
	most := total(root)
	if most > limit {
		return 0, costError(fmt.Sprintf("allOf, anyOf, oneOf and $ref branches apply up to %d subschemas to one value, over this hub's limit of %d (%s the most often); apply fewer branches to the same value", most, limit, g.where(busiest(root))))
	}
	frontier := []map[int]int64{root}
	seen := map[string]bool{signature(root): true}
	for depth := 1; len(frontier) > 0; depth++ {
		if depth > len(g.nodes)+16 {
			return 0, costError(fmt.Sprintf("the subschemas that apply to one value keep changing with the instance's depth (%d at depth %d): recursion passes through more than one branch for the same value; recurse through a single branch", most, depth))
		}
		var next []map[int]int64
		for _, cur := range frontier {
			keys, err := g.keys(cur)
			if err != nil {
				return 0, err
			}
			for _, k := range keys {
				v, err := g.advance(cur, k, limit)
				if err != nil {
					return 0, err
				}
				if t := total(v); t > most {
					most = t
				}
				if most > limit {
					return 0, costError(fmt.Sprintf("up to %d subschemas may apply to one value nested %d deep, over this hub's limit of %d (%s the most often): recursion or nesting passes through more than one branch (allOf, anyOf, oneOf, …) reaching the same value, so the work multiplies with every level; recurse through a single branch", most, depth, limit, g.where(busiest(v))))
				}
				// Only subschemas with child edges shape the levels
				// below: the rest are counted above and dropped, so
				// that vectors differing only in them are followed once.
				maps.DeleteFunc(v, func(s int, _ int64) bool { return !g.parent[s] })
				sig := signature(v)
				if len(v) == 0 || seen[sig] {
					continue
				}
				seen[sig] = true
				next = append(next, v)
			}
		}
		frontier = next
	}
	return most, nil
}

// advance returns the level vector of the children of class k of a value
// whose level vector is cur.
func (g *costGraph) advance(cur map[int]int64, k key, limit int64) (map[int]int64, error) {
	if err := g.step(len(cur)); err != nil {
		return nil, err
	}
	seeds := map[int]int64{}
	for s, n := range cur {
		for _, t := range childEdges(g.nodes[s], k) {
			ti := g.index[t]
			seeds[ti] = satAdd(seeds[ti], n)
		}
	}
	if len(seeds) == 0 {
		return seeds, nil
	}
	return g.expand(seeds, limit)
}

// keys lists the classes of child keys that the subschemas in cur tell
// apart: their property names, any other name, their tuple indexes, any
// other index.
func (g *costGraph) keys(cur map[int]int64) ([]key, error) {
	names := map[string]bool{}
	tuple := 0
	for s := range cur {
		n := g.nodes[s]
		if err := g.step(1 + len(n.Properties)); err != nil {
			return nil, err
		}
		for name := range n.Properties {
			names[name] = true
		}
		tuple = max(tuple, len(n.PrefixItems))
		if items, ok := n.Items.([]*jsonschema.Schema); ok {
			tuple = max(tuple, len(items))
		}
	}
	out := []key{{other: true}, {array: true, other: true}}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		out = append(out, key{name: name})
	}
	for i := range tuple {
		out = append(out, key{array: true, index: i})
	}
	return out, nil
}

// signature is a canonical form of a level's counts, to find a repeat.
func signature(cur map[int]int64) string {
	var b strings.Builder
	for _, s := range slices.Sorted(maps.Keys(cur)) {
		b.WriteString(strconv.Itoa(s))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(cur[s], 10))
		b.WriteByte(',')
	}
	return b.String()
}

// total sums a level's counts.
func total(cur map[int]int64) int64 {
	var t int64
	for _, n := range cur {
		t = satAdd(t, n)
	}
	return t
}

// busiest is the subschema with the largest count (the lowest-numbered of
// equals, so messages are stable).
func busiest(cur map[int]int64) int {
	best := -1
	for _, s := range slices.Sorted(maps.Keys(cur)) {
		if best < 0 || cur[s] > cur[best] {
			best = s
		}
	}
	return best
}

// satCap is where counts saturate: far above any limit, far below overflow.
const satCap = 1 << 50

func satAdd(a, b int64) int64 { return min(a+b, satCap) }

func satMul(a, b int64) int64 {
	if a != 0 && b > satCap/a {
		return satCap
	}
	return min(a*b, satCap)
}

// depthWeight is how many levels of depth make a value weigh one more
// check: a failed check copies the value's path (one word per level) into
// its error, and a check costs about as much as copying 16 of them. Deep
// instances would otherwise make the work grow with the square of their
// depth while their checks stay few.
const depthWeight = 16

// instanceWeight returns the values of a decoded instance, object keys
// included (propertyNames checks them), and their weight: each counts
// 1 + depth/depthWeight. The weight is the factor of P in a write's work.
func instanceWeight(v any) (values, weight int64) {
	var walk func(v any, depth int64)
	walk = func(v any, depth int64) {
		values++
		weight += depthWeight + depth // in 1/depthWeight, divided below
		switch v := v.(type) {
		case map[string]any:
			for _, c := range v {
				values++
				weight += depthWeight + depth + 1
				walk(c, depth+1)
			}
		case []any:
			for _, c := range v {
				walk(c, depth+1)
			}
		}
	}
	walk(v, 0)
	return values, (weight + depthWeight - 1) / depthWeight
}
