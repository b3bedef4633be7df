package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// DecodeStrict decodes a JSON object into v and rejects any key that v's type does not
// declare, naming it with its full dotted path ("image.fromat"). Map-typed fields stay open.
// A typo in a job spec otherwise silently costs a multi-hour conversion with wrong settings.
func DecodeStrict(data []byte, v any) error {
	if depth(data) > MaxDepth {
		return Invalid([]FieldError{{Field: "body",
			Message: fmt.Sprintf("nests deeper than %d levels", MaxDepth)}})
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Invalid([]FieldError{{Field: "body", Message: "is not valid JSON: " + jsonProblem(err)}})
	}
	if dec.More() {
		return Invalid([]FieldError{{Field: "body", Message: "has data after the JSON value"}})
	}
	if _, ok := raw.(map[string]any); !ok {
		return Invalid([]FieldError{{Field: "body", Message: "must be a JSON object"}})
	}
	var unknown []FieldError
	checkKnown(raw, reflect.TypeOf(v).Elem(), "", &unknown)
	if len(unknown) > 0 {
		return Invalid(unknown)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return Invalid([]FieldError{typeProblem(err)})
	}
	return nil
}

// MaxDepth bounds JSON nesting: a stored job is one level deeper than its request, and every
// client that lists jobs must still be able to decode it.
const MaxDepth = 32

// depth returns the deepest nesting of objects and arrays in data, ignoring strings.
func depth(data []byte) int {
	d, deepest, inString, escaped := 0, 0, false, false
	for _, c := range data {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	if errors.Is(err, errUnexpectedEOF) || strings.Contains(err.Error(), "EOF") {
		return "unexpected end of input"
	}
	return "malformed"
}

var errUnexpectedEOF = errors.New("unexpected EOF")

func typeProblem(err error) FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "body"
		}
		return FieldError{Field: field, Message: "must be " + jsonTypeName(te.Type)}
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return *fe
	}
	return FieldError{Field: "body", Message: "has a value of the wrong type"}
}

// Error lets a custom UnmarshalJSON report a precise field problem.
func (f *FieldError) Error() string { return f.Field + ": " + f.Message }

func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	}
	return "of another type"
}

// checkKnown walks the decoded JSON next to the Go type and records keys the type lacks.
func checkKnown(raw any, t reflect.Type, path string, out *[]FieldError) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok || t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
			return
		}
		fields := jsonFields(t)
		for key, val := range obj {
			ft, ok := fields[key]
			if !ok {
				*out = append(*out, FieldError{Field: join(path, key), Message: "is not a known field"})
				continue
			}
			checkKnown(val, ft, join(path, key), out)
		}
	case reflect.Slice:
		list, ok := raw.([]any)
		if !ok {
			return
		}
		for i, item := range list {
			checkKnown(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

var unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" && f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
