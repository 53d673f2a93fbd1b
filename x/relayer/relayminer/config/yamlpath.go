package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yaml.v3 reports decoding problems by line only, e.g.
//
//	line 12: cannot unmarshal !!str `10x` into time.Duration
//	line 3: field bogus not found in type config.Chain
//
// decodeErrors turns them into FieldErrors naming the field, found by
// looking the line up in the document tree.

var (
	lineRe     = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownRe  = regexp.MustCompile(`^field (.+) not found in type `)
	mismatchRe = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
)

// nodeAt is a key or value node of the document with its field path.
type nodeAt struct {
	path  string
	key   bool
	node  *yaml.Node
	parts int // path depth, to prefer the innermost node on a line
}

func decodeErrors(doc *yaml.Node, te *yaml.TypeError) error {
	byLine := map[int][]nodeAt{}
	index(doc, "", 0, byLine)
	var errs []error
	for _, msg := range te.Errors {
		errs = append(errs, decodeError(byLine, msg))
	}
	return errors.Join(errs...)
}

func index(n *yaml.Node, path string, depth int, byLine map[int][]nodeAt) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			index(c, path, depth, byLine)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			byLine[k.Line] = append(byLine[k.Line], nodeAt{path: p, key: true, node: k, parts: depth + 1})
			byLine[v.Line] = append(byLine[v.Line], nodeAt{path: p, node: v, parts: depth + 1})
			index(v, p, depth+1, byLine)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			byLine[c.Line] = append(byLine[c.Line], nodeAt{path: p, node: c, parts: depth + 1})
			index(c, p, depth+1, byLine)
		}
	}
}

func decodeError(byLine map[int][]nodeAt, msg string) error {
	m := lineRe.FindStringSubmatch(msg)
	if m == nil {
		return errors.New(msg)
	}
	line, _ := strconv.Atoi(m[1])
	rest := m[2]
	candidates := byLine[line]

	if u := unknownRe.FindStringSubmatch(rest); u != nil {
		for _, c := range candidates {
			if c.key && c.node.Value == u[1] {
				return &FieldError{Field: c.path, Problem: fmt.Sprintf("unknown field (line %d)", line)}
			}
		}
		return fmt.Errorf("line %d: unknown field %q", line, u[1])
	}

	if mm := mismatchRe.FindStringSubmatch(rest); mm != nil {
		tag, shown, into := mm[1], mm[2], mm[3]
		var best *nodeAt
		for i := range candidates {
			c := &candidates[i]
			if c.key || c.node.ShortTag() != tag {
				continue
			}
			if shown != "" && c.node.Value != shown &&
				!(strings.HasSuffix(shown, "...") && strings.HasPrefix(c.node.Value, strings.TrimSuffix(shown, "..."))) {
				continue
			}
			if best == nil || c.parts > best.parts {
				best = c
			}
		}
		if best != nil {
			return &FieldError{Field: best.path, Problem: fmt.Sprintf("%s (line %d)", mismatch(best.node, into), line)}
		}
	}
	return errors.New(msg)
}

// mismatch says that node n does not fit Go type into.
func mismatch(n *yaml.Node, into string) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "got a mapping, want " + expected(into)
	case yaml.SequenceNode:
		return "got a list, want " + expected(into)
	}
	return fmt.Sprintf("%q is not %s", n.Value, expected(into))
}

// expected names what a Go type accepts, for the types in Config.
func expected(goType string) string {
	switch {
	case goType == "time.Duration":
		return `a duration such as "10s" or "1m30s"`
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "config."):
		return "a mapping"
	case strings.HasPrefix(goType, "int"):
		return "an integer"
	case strings.HasPrefix(goType, "uint"):
		return "a non-negative integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	}
	return goType
}
