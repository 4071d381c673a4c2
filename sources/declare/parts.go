package declare

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The connectors' own parts of a resource (soap:, sql:) are read by the
// connectors (sources/connect), which this package does not import: it
// hands them the part as written, decodes it into their type strictly, and
// locates the problems they report by the keys they name.

// KeyPos is the place of a key path within the resource's declaration, such
// as ["soap", "request", "PersonId"] or ["fields", "givenName"]: the line of
// the deepest key of the path that the file has (the resource's own line
// when it has none of it).
func (r *Resource) KeyPos(key ...string) Pos {
	pos := r.Pos
	n := r.node
	for _, k := range key {
		if n == nil || n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				pos = Pos{r.Pos.File, n.Content[i].Line}
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return pos
}

// Problem is a problem of the resource at a key path (KeyPos), its message
// prefixed with the resource's name.
func (r *Resource) Problem(key []string, msg string) Problem {
	return Problem{Pos: r.KeyPos(key...), Msg: "resource " + r.FullName() + ": " + msg}
}

// DecodePart decodes the resource's connector part (its soap: or sql:
// mapping) into v, a pointer to the connector's struct, strictly: a key
// that v has no field for, and a value of the wrong type, are problems
// located in the file. decoded is false after a value of the wrong type
// (v is then only partly filled, and not worth checking further); an
// unknown key leaves the rest decoded. Nothing is decoded for a resource
// without a part.
func (r *Resource) DecodePart(v any) (ps Problems, decoded bool) {
	part, n := ConnectorSOAP, r.SOAP
	if n == nil {
		part, n = ConnectorSQL, r.SQL
	}
	if n == nil {
		return nil, false
	}
	unknownKeys(r, n, reflect.TypeOf(v), []string{part}, &ps)
	if err := n.Decode(v); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			ps = append(ps, Problem{Pos: r.KeyPos(part), Msg: fmt.Sprintf("resource %s: %s: %v", r.FullName(), part, err)})
		}
		if te != nil {
			for _, e := range te.Errors {
				ps = append(ps, Problem{Pos: typeErrorPos(r, part, e), Msg: fmt.Sprintf("resource %s: %s: %s", r.FullName(), part, typeErrorText(e))})
			}
		}
		return ps, false
	}
	return ps, true
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): `)

// typeErrorPos reads the line a yaml.v3 type error names.
func typeErrorPos(r *Resource, part, e string) Pos {
	if m := yamlLineRE.FindStringSubmatch(e); m != nil {
		if line, err := strconv.Atoi(m[1]); err == nil {
			return Pos{r.Pos.File, line}
		}
	}
	return r.KeyPos(part)
}

// typeErrorText says yaml.v3's "cannot unmarshal !!seq into string" in
// the declaration's words.
func typeErrorText(e string) string {
	e = yamlLineRE.ReplaceAllString(e, "")
	for tag, word := range map[string]string{"!!seq": "a list", "!!map": "a mapping", "!!str": "text", "!!int": "a number", "!!bool": "a boolean", "!!float": "a number"} {
		e = strings.ReplaceAll(e, tag, word)
	}
	return e
}

var durationType = reflect.TypeOf(time.Duration(0))

// unknownKeys reports the keys of n that t (a struct, pointer, map or
// slice of them, as yaml.v3 reads it) has no field for.
func unknownKeys(r *Resource, n *yaml.Node, t reflect.Type, at []string, ps *Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode || t == durationType {
			return // a type error, reported by Decode
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = f.Type
			names = append(names, name)
		}
		sort.Strings(names)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				ps.add(Pos{r.Pos.File, k.Line}, "resource %s: %s: unknown key %q (want %s)", r.FullName(), strings.Join(at, "."), k.Value, strings.Join(names, ", "))
				continue
			}
			unknownKeys(r, n.Content[i+1], ft, append(at[:len(at):len(at)], k.Value), ps)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			unknownKeys(r, n.Content[i+1], t.Elem(), append(at[:len(at):len(at)], n.Content[i].Value), ps)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for _, c := range n.Content {
			unknownKeys(r, c, t.Elem(), at, ps)
		}
	}
}

// Dir is the folder of the system's declaration file: where the files a
// connector reads beside it are (schema for schema/<system>.yaml).
func (s *System) Dir() string { return path.Dir(s.Pos.File) }

// FS gives the files given beside the declarations (File entries that are
// not declarations, such as WSDLs), named from the folder dir: what a
// connector of a system declared in dir reads. It reads only what Load was
// given, never the disk, so the gateway reads the files go generate
// embedded.
func (s *Set) FS(dir string) fs.FS {
	return filesFS{set: s, dir: path.Clean(dir)}
}

// filesFS is an fs.FS of a set's other files below one folder.
type filesFS struct {
	set *Set
	dir string
}

func (f filesFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	var data []byte
	ok := false
	if f.set != nil {
		data, ok = f.set.others[path.Join(f.dir, name)]
	}
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{name: path.Base(name), r: bytes.NewReader(data), size: int64(len(data))}, nil
}

// memFile is one file of filesFS.
type memFile struct {
	name string
	r    *bytes.Reader
	size int64
}

func (m *memFile) Read(p []byte) (int, error) { return m.r.Read(p) }
func (m *memFile) Close() error               { return nil }
func (m *memFile) Stat() (fs.FileInfo, error) { return memInfo{m.name, m.size}, nil }

// memInfo describes a memFile.
type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// Interface guards.
var (
	_ fs.FS     = filesFS{}
	_ fs.File   = (*memFile)(nil)
	_ io.Reader = (*memFile)(nil)
)
