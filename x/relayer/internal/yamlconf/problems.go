package yamlconf

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// FieldError is a problem with one field of a configuration.
type FieldError struct {
	Field   string // path such as suppliers[0].services[1].backend_url or chain.grpc_url
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Problems collects a Validate's problems, each a *FieldError.
type Problems struct{ errs []error }

// Add records a problem with field.
func (p *Problems) Add(field, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// Check records that field is required if value is empty, or fn's problem
// with value (fn returns "" for none) as `"value" problem`. It reports
// whether value is fine.
func (p *Problems) Check(field, value string, fn func(string) string) bool {
	if value == "" {
		p.Add(field, "is required")
		return false
	}
	if problem := fn(value); problem != "" {
		p.Add(field, "%q %s", value, problem)
		return false
	}
	return true
}

// Err is every problem recorded, joined, or nil.
func (p *Problems) Err() error { return errors.Join(p.errs...) }

// Positive records a problem with field unless v > 0.
func Positive[T ~int | ~int64](p *Problems, field string, v T) {
	if v <= 0 {
		p.Add(field, "must be positive, got %v", v)
	}
}

// Validated joins Decode's error with validate's. A syntax or document
// error (not a *FieldError) is returned alone: nothing decoded to validate.
// Otherwise validate runs on what did decode, and its problems are added,
// except those of a field that failed to decode, or of a field within it:
// such a field has its problem already, and holds its default, which would
// make a second, wrong problem.
func Validated(decodeErr error, validate func() error) error {
	decoded := Unjoin(decodeErr)
	failed := map[string]bool{}
	for _, err := range decoded {
		fe, ok := err.(*FieldError)
		if !ok {
			return decodeErr
		}
		failed[fe.Field] = true
	}
	errs := decoded
	for _, err := range Unjoin(validate()) {
		if fe, ok := err.(*FieldError); !ok || !within(fe.Field, failed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// within reports whether field is one of fields, or within one of them
// (chain.rpc_url is within chain, services[1] within services).
func within(field string, fields map[string]bool) bool {
	for f := range fields {
		if field == f || strings.HasPrefix(field, f+".") || strings.HasPrefix(field, f+"[") {
			return true
		}
	}
	return false
}

// Unjoin flattens err's joined errors (errors.Join, nested or not); nil
// gives none, and an error not joined is alone.
func Unjoin(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, Unjoin(e)...)
	}
	return out
}

// Load reads the file at path and parses it with parse; its errors name
// the daemon (name, e.g. "relayminer") and the file.
func Load[T any](path, name string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("reading %s config: %w", name, err)
	}
	cfg, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("%s config %s: %w", name, path, err)
	}
	return cfg, nil
}
