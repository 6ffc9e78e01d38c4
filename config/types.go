package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// checkTypes walks the decoded document raw alongside the type of v and
// reports every value whose TOML type does not fit its key, each with its
// line. The TOML decoder stops at the first such value, and which one it
// meets first changes from run to run (it walks maps); this finds them
// all, the same way every time, before the decoder runs.
func checkTypes(col *collector, raw map[string]any, t reflect.Type) {
	checkTable(col, "", raw, t)
}

func checkTable(col *collector, path string, raw map[string]any, t reflect.Type) {
	fields := tomlFields(t)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := fields[k]
		if !ok {
			col.add(join(path, k), "unknown key; check its spelling against radius.conf.example")
			continue
		}
		checkValue(col, join(path, k), raw[k], f)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// tomlFields maps a struct's TOML keys to their types.
func tomlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("toml"), ",")[0]
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
		// A secret may be given as name_file or name_env instead.
		if strings.HasSuffix(f.Tag.Get("toml"), ",secret") {
			out[name+"_file"] = f.Type
			out[name+"_env"] = f.Type
		}
	}
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

func checkValue(col *collector, path string, v any, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		s, ok := v.(string)
		if !ok {
			col.add(path, "%s where text is expected; write it in quotes", tomlType(v))
			return
		}
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			col.add(path, "%v", err)
		}
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		s, ok := v.(string)
		if !ok {
			col.add(path, "%s where text is expected; write it in quotes", tomlType(v))
			return
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			col.add(path, "%v", err)
		}
		return
	}
	want := ""
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			want = "text in quotes"
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			want = "true or false"
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if _, ok := v.(int64); !ok {
			want = "a whole number"
		}
	case reflect.Float64:
		switch v.(type) {
		case int64, float64:
		default:
			want = "a number"
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if m, isTables := v.([]map[string]any); isTables {
			list, ok = make([]any, len(m)), true
			for i := range m {
				list[i] = m[i]
			}
		}
		if !ok {
			want = "a list in [brackets]"
			break
		}
		for i, x := range list {
			checkValue(col, path+"["+strconv.Itoa(i)+"]", x, t.Elem())
		}
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			want = "a table"
			break
		}
		checkTable(col, path, m, t)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			want = "a table"
			break
		}
		for k, x := range m {
			checkValue(col, path+"."+k, x, t.Elem())
		}
	}
	if want != "" {
		col.add(path, "%s where %s is expected", tomlType(v), want)
	}
}

// tomlType names a decoded value's TOML type for a message.
func tomlType(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the text %q", x)
	case bool:
		return fmt.Sprintf("%v (true or false)", x)
	case int64:
		return fmt.Sprintf("the number %d", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case []any, []map[string]any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

// without returns raw without the values at paths (as collector keys name
// them: "client[1].push_wait"), so that the rest can still be decoded and
// checked.
func without(raw map[string]any, paths []string) map[string]any {
	for _, p := range paths {
		deletePath(raw, p)
	}
	return raw
}

func deletePath(m map[string]any, path string) {
	head, rest, nested := strings.Cut(path, ".")
	name, idx := head, -1
	if i := strings.IndexByte(head, '['); i > 0 && strings.HasSuffix(head, "]") {
		if n, err := strconv.Atoi(head[i+1 : len(head)-1]); err == nil {
			name, idx = head[:i], n
		}
	}
	v, ok := m[name]
	if !ok {
		return
	}
	if idx >= 0 {
		switch list := v.(type) {
		case []map[string]any:
			if idx < len(list) && nested {
				deletePath(list[idx], rest)
			}
		case []any:
			if idx < len(list) {
				if sub, ok := list[idx].(map[string]any); ok && nested {
					deletePath(sub, rest)
				} else if !nested {
					delete(m, name) // a bad element: the list goes
				}
			}
		}
		return
	}
	if !nested {
		delete(m, name)
		return
	}
	if sub, ok := v.(map[string]any); ok {
		deletePath(sub, rest)
	}
}
