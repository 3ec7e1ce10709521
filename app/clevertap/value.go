package clevertap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Date returns t as a CleverTap date property value, "$D_<epoch seconds>"
// (sinks.md §2.4). The record-level TS is a plain integer instead.
func Date(t time.Time) string {
	return "$D_" + strconv.FormatInt(t.Unix(), 10)
}

// FlattenValue returns v as a value CleverTap accepts in evtData and
// profileData, where nested objects and arrays are refused (code 512):
//
//   - strings, booleans, integers and finite floats (and json.Number) are
//     kept, named types reduced to their basic type;
//   - a time.Time becomes a Date;
//   - NaN and ±Inf, which JSON cannot carry, become strings;
//   - maps, slices, arrays and structs become their JSON text, as
//     RudderStack does ([]byte is taken as text);
//   - nil and nil pointers stay nil, other pointers are followed.
//
// A string (the result included) longer than MaxValueBytes is cut there,
// at a character boundary.
func FlattenValue(v any) any {
	out := flattenValue(v)
	if s, ok := out.(string); ok {
		return fitString(s, MaxValueBytes)
	}
	return out
}

// CleverTap's limits on evtData and profileData (sinks.md §2.4): keys of
// at most 120 characters, values of at most 512 bytes.
const (
	MaxKeyChars   = 120
	MaxValueBytes = 512
)

// fitString cuts s to at most n bytes without splitting a character.
func fitString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// FitKey cuts a property name to MaxKeyChars characters.
func FitKey(k string) string {
	if utf8.RuneCountInString(k) <= MaxKeyChars {
		return k
	}
	return string([]rune(k)[:MaxKeyChars])
}

func flattenValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string, bool, json.Number,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return x
	case float64:
		return finite(x)
	case float32:
		return finite(float64(x))
	case time.Time:
		return Date(x)
	case []byte:
		return string(x)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return flattenValue(rv.Elem().Interface())
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint()
	case reflect.Float32, reflect.Float64:
		return finite(rv.Float())
	}
	// A type with its own JSON form (a decimal amount, say) keeps it when
	// that form is a scalar.
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var scalar any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&scalar) == nil {
		switch s := scalar.(type) {
		case string, bool, json.Number:
			return s
		case nil:
			return nil
		}
	}
	return string(b)
}

func finite(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return f
}

// Flatten returns a copy of m with FlattenValue applied to every value and
// every key cut to MaxKeyChars, for evtData and profileData. When two keys
// cut to the same name, the first in sorted order keeps it.
func Flatten(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fk := FitKey(k)
		if _, taken := out[fk]; taken {
			continue
		}
		out[fk] = FlattenValue(m[k])
	}
	return out
}
