package yamlconf

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaulter is implemented (on the pointer) by a type whose values Decode
// creates itself — slice elements, map values, pointed-to values — to fill
// in their defaults before the YAML is decoded over them. A field absent
// from an element, or null, keeps its default.
type Defaulter interface{ Default() }

// Decode decodes the YAML document data into out, a pointer to a struct
// pre-filled with defaults, strictly:
//
//   - data must hold a single document; an empty file is an empty document
//     (out is left as is);
//   - a struct is decoded field by field from a mapping, by the fields'
//     yaml tags (",inline" embeds a struct's fields, "-" skips a field); a
//     key matching no field, or given twice, is a problem;
//   - a null or absent value leaves the field's default;
//   - a new slice element or map value takes its Defaulter's defaults
//     before it is decoded; a list replaces a slice's default elements;
//   - merge keys ("<<: *anchor") merge a mapping, explicit keys winning.
//
// A syntax error, or a second document, is returned alone. Otherwise every
// problem is returned at once (errors.Join), each a *FieldError whose
// Field is the field path (e.g. suppliers[0].services[1].backend_url, or
// headers.Authorization for a map key) and whose Problem gives the line.
// The fields that did decode hold their values even then.
func Decode(data []byte, out any) error {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("yamlconf.Decode: want a pointer to a struct, got %T", out)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil // an empty file (or comments only) is an empty document
	} else if err != nil {
		return err
	}
	if err := dec.Decode(new(yaml.Node)); err == nil {
		return errors.New("the file must hold a single YAML document")
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("the file must hold a single YAML document: %w", err)
	}
	d := &decoder{}
	if len(doc.Content) > 0 {
		d.value(doc.Content[0], v.Elem(), "")
	}
	return errors.Join(d.errs...)
}

type decoder struct{ errs []error }

func (d *decoder) add(path, format string, args ...any) {
	if path == "" {
		path = "(top level)"
	}
	d.errs = append(d.errs, &FieldError{Field: path, Problem: fmt.Sprintf(format, args...)})
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// value decodes n into v, the field at path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // keeps the default
	}
	if pt := v.Addr().Type(); pt.Implements(yamlUnmarshalerType) || pt.Implements(textUnmarshalerType) {
		// A type decoding itself (its own UnmarshalYAML, or a scalar
		// through UnmarshalText).
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.add(path, "%s (line %d)", strings.TrimPrefix(err.Error(), "yaml: "), n.Line)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(newValue(v.Type().Elem()).Addr())
		}
		d.value(n, v.Elem(), path)
	default:
		if n.Kind != yaml.ScalarNode || n.Decode(v.Addr().Interface()) != nil || truncated(n, v.Kind()) {
			d.mismatch(n, v.Type(), path)
		}
	}
}

// truncated reports whether yaml.v3 decoded the number n into an integer
// of kind k by dropping its fraction (it takes 1.5 as 1); a whole number
// written as a float (4e6) is fine.
func truncated(n *yaml.Node, k reflect.Kind) bool {
	if n.ShortTag() != "!!float" || !(k >= reflect.Int && k <= reflect.Uint64) {
		return false
	}
	var f float64
	return n.Decode(&f) != nil || f != math.Trunc(f)
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.mismatch(n, v.Type(), path)
		return
	}
	fields := fieldsOf(v.Type())
	d.pairs(n, path, func(k, val *yaml.Node, p string) {
		idx, ok := fields[k.Value]
		if !ok {
			d.add(p, "unknown field (line %d)", k.Line)
			return
		}
		d.value(val, v.FieldByIndex(idx), p)
	})
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.mismatch(n, v.Type(), path)
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	d.pairs(n, path, func(k, val *yaml.Node, p string) {
		key := reflect.New(v.Type().Key()).Elem()
		if k.Decode(key.Addr().Interface()) != nil {
			d.add(p, "%q is not %s, as a key (line %d)", k.Value, want(key.Type()), k.Line)
			return
		}
		elem := newValue(v.Type().Elem())
		d.value(val, elem, p)
		v.SetMapIndex(key, elem)
	})
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.mismatch(n, v.Type(), path)
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		setDefaults(out.Index(i))
		d.value(c, out.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(out)
}

// pairs calls fn on each key and value of mapping n, with the key's field
// path, merge keys resolved: a merged pair is overridden by an explicit
// key, or by the same key of an earlier merged mapping, as YAML has it. A
// key given twice is a problem (merged keys excepted).
func (d *decoder) pairs(n *yaml.Node, path string, fn func(k, v *yaml.Node, path string)) {
	type pair struct{ k, v *yaml.Node }
	var explicit, merged []pair
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
		} else {
			explicit = append(explicit, pair{k, v})
		}
	}
	taken := map[string]bool{}
	for _, p := range explicit {
		taken[p.k.Value] = true
	}
	for _, m := range merges {
		if m.Kind == yaml.AliasNode {
			m = m.Alias
		}
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, s := range sources {
			if s.Kind == yaml.AliasNode {
				s = s.Alias
			}
			if s.Kind != yaml.MappingNode {
				d.add(path, "a merge (<<) takes a mapping or a list of mappings (line %d)", s.Line)
				continue
			}
			d.pairs(s, path, func(k, v *yaml.Node, _ string) {
				if !taken[k.Value] {
					taken[k.Value] = true
					merged = append(merged, pair{k, v})
				}
			})
		}
	}
	lines := map[string]int{}
	for _, p := range append(merged, explicit...) {
		field := p.k.Value
		if path != "" {
			field = path + "." + p.k.Value
		}
		if p.k.Kind != yaml.ScalarNode {
			d.add(path, "a key must be a scalar (line %d)", p.k.Line)
			continue
		}
		if first, dup := lines[p.k.Value]; dup {
			d.add(field, "given twice (line %d, first on line %d)", p.k.Line, first)
			continue
		}
		lines[p.k.Value] = p.k.Line
		fn(p.k, p.v, field)
	}
}

// mismatch records that n does not fit Go type t.
func (d *decoder) mismatch(n *yaml.Node, t reflect.Type, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		d.add(path, "got a mapping, want %s (line %d)", want(t), n.Line)
	case yaml.SequenceNode:
		d.add(path, "got a list, want %s (line %d)", want(t), n.Line)
	default:
		d.add(path, "%q is not %s (line %d)", n.Value, want(t), n.Line)
	}
}

// want names what a value of Go type t is written as in YAML.
func want(t reflect.Type) string {
	if t == durationType {
		return `a duration such as "10s" or "1m30s"`
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return want(t.Elem())
	}
	return t.String()
}

// newValue is a new settable value of type t, with its defaults.
func newValue(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	setDefaults(v)
	return v
}

func setDefaults(v reflect.Value) {
	if d, ok := v.Addr().Interface().(Defaulter); ok {
		d.Default()
	}
}

// fieldsOf maps the YAML keys of struct type t to its fields' indexes.
func fieldsOf(t reflect.Type) map[string][]int {
	fields := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") && f.Type.Kind() == reflect.Struct {
			for k, idx := range fieldsOf(f.Type) {
				fields[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // as yaml.v3 does
		}
		fields[name] = []int{i}
	}
	return fields
}
