// Package web holds the gateway's browser assets: the policy editor page
// (admin/) and GraphiQL (graphiql/dist/). They are embedded in the binary,
// so the pages work without internet access and without npm on the machine
// that runs the gateway. The policy editor is plain HTML, CSS and
// JavaScript without a build step; GraphiQL is bundled at development time
// by `npm ci && npm run build` in web/graphiql (see its build.mjs), and the
// result, dist/, is committed; CI rebuilds it from the lock file and fails
// if it differs.
package web

import (
	"embed"
	"io/fs"
)

//go:embed admin/*.html admin/assets
var admin embed.FS

//go:embed graphiql/dist
var graphiql embed.FS

// Admin is the policy editor: its page templates (*.html) at the root and its
// static files under assets/.
func Admin() fs.FS {
	return sub(admin, "admin")
}

// GraphiQL is the built GraphiQL: index.html (an html/template) at the
// root, the content-hashed bundle under assets/, and LICENSES.txt, the
// licences of every package in the bundle.
func GraphiQL() fs.FS {
	return sub(graphiql, "graphiql/dist")
}

func sub(fsys embed.FS, dir string) fs.FS {
	s, err := fs.Sub(fsys, dir)
	if err != nil {
		panic("web: embedded " + dir + " missing: " + err.Error())
	}
	return s
}
