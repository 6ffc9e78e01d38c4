package config

import (
	"strconv"
	"strings"
)

// lineIndex maps key paths of a TOML document to the line they are on, so
// that errors found after decoding can name the line. Paths look like
// "server.listen" or "client[1].secret"; the same key is also recorded
// without array indexes ("client.secret") for keys the decoder reports
// without them.
type lineIndex struct {
	lines map[string]int
}

func (ix *lineIndex) line(path string) int { return ix.lines[path] }

func indexLines(src string) *lineIndex {
	ix := &lineIndex{lines: map[string]int{}}
	counts := map[string]int{}
	prefix, plain := "", ""
	inMulti := ""
	for n, raw := range strings.Split(src, "\n") {
		lineNo := n + 1
		line := strings.TrimSpace(raw)
		if inMulti != "" {
			if strings.Contains(line, inMulti) {
				inMulti = ""
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		switch {
		case strings.HasPrefix(line, "[["):
			name := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(line, "[["), "]]", 2)[0])
			i := counts[name]
			counts[name]++
			prefix = name + "[" + strconv.Itoa(i) + "]"
			plain = name
			ix.set(prefix, plain, lineNo)
			continue
		case line[0] == '[':
			name := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(line, "["), "]", 2)[0])
			prefix, plain = name, name
			// [client.role_reply] belongs to the last [[client]].
			if head, rest, ok := strings.Cut(name, "."); ok && counts[head] > 0 {
				prefix = head + "[" + strconv.Itoa(counts[head]-1) + "]." + rest
			}
			ix.set(prefix, plain, lineNo)
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq <= 0 {
			continue
		}
		key := strings.Trim(strings.TrimSpace(line[:eq]), `"'`)
		value := strings.TrimSpace(line[eq+1:])
		for _, q := range []string{`"""`, `'''`} {
			if strings.HasPrefix(value, q) && strings.Count(value, q) == 1 {
				inMulti = q
			}
		}
		if prefix == "" {
			ix.set(key, key, lineNo)
		} else {
			ix.set(prefix+"."+key, plain+"."+key, lineNo)
		}
	}
	return ix
}

func (ix *lineIndex) set(path, plain string, line int) {
	if _, ok := ix.lines[path]; !ok {
		ix.lines[path] = line
	}
	if _, ok := ix.lines[plain]; !ok {
		ix.lines[plain] = line
	}
}
