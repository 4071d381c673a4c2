package connect

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kommungraf/kommungraf/sources/upstream"
)

// maxXMLDepth bounds the nesting of an XML answer: records are a few
// levels deep, and a deeper document is not one.
const maxXMLDepth = 64

// xmlTree reads an XML body into the shape a JSON body has, so that the
// records path and the field mapping read both alike: the root element is
// the body; an element with neither attributes nor child elements is its
// text; any other is an object of its children by local name (a repeated
// child a list), its attributes as "@name" and its text, if any, as
// "#text". Directives (DOCTYPE, ENTITY) are refused, as everywhere.
func xmlTree(body []byte) (any, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	type frame struct {
		name     string
		obj      map[string]any
		text     strings.Builder
		children bool
	}
	var stack []*frame
	var root any
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, upstream.ErrXMLDirective
		case xml.StartElement:
			if root != nil {
				return nil, errors.New("xml: more than one root element")
			}
			if len(stack) == maxXMLDepth {
				return nil, fmt.Errorf("xml: nested deeper than %d elements", maxXMLDepth)
			}
			f := &frame{name: t.Name.Local, obj: map[string]any{}}
			for _, a := range t.Attr {
				f.obj["@"+a.Name.Local] = a.Value
			}
			if n := len(stack); n > 0 {
				stack[n-1].children = true
			}
			stack = append(stack, f)
		case xml.CharData:
			if n := len(stack); n > 0 {
				stack[n-1].text.Write(t)
			}
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			text := strings.TrimSpace(f.text.String())
			var v any = f.obj
			switch {
			case !f.children && len(f.obj) == 0:
				v = text
			case text != "":
				f.obj["#text"] = text
			}
			if len(stack) == 0 {
				root = v
				continue
			}
			parent := stack[len(stack)-1].obj
			switch prev := parent[f.name].(type) {
			case nil:
				parent[f.name] = v
			case []any:
				parent[f.name] = append(prev, v)
			default:
				parent[f.name] = []any{prev, v}
			}
		}
	}
	if root == nil {
		return nil, errors.New("xml: no root element")
	}
	return root, nil
}
