package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestExampleIsValidAndComplete: radius.conf.example loads, and documents
// every key of the configuration.
func TestExampleIsValidAndComplete(t *testing.T) {
	cfg, err := Load("../radius.conf.example")
	if err != nil {
		t.Fatalf("radius.conf.example: %v", err)
	}
	if len(cfg.Clients) != 1 || len(cfg.Provider) != 1 {
		t.Fatalf("example has %d clients and %d providers", len(cfg.Clients), len(cfg.Provider))
	}
	src, _ := readFile("../radius.conf.example")
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := f.Tag.Get("toml")
			if tag == "" || tag == "-" {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration{}) {
				if !strings.Contains(src, "["+tag+"]") {
					t.Errorf("radius.conf.example has no [%s] table", tag)
				}
				walk(tag+".", ft)
				continue
			}
			if ft.Kind() == reflect.Map && strings.Contains(src, "["+prefix+tag+"]") {
				continue // documented as a table of its own
			}
			if !strings.Contains(src, "\n"+tag+" = ") && !strings.Contains(src, "# "+tag+" = ") {
				t.Errorf("radius.conf.example does not document %s%s", prefix, tag)
			}
		}
	}
	walk("", reflect.TypeOf(Config{}))
}
