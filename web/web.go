// Package web holds the gateway's browser assets: the policy editor page
// (admin/). They are plain HTML, CSS and JavaScript without a build step, and
// embedded in the binary, so the page works without internet access and
// without npm on the machine that runs the gateway.
package web

import (
	"embed"
	"io/fs"
)

//go:embed admin/*.html admin/assets
var admin embed.FS

// Admin is the policy editor: its page templates (*.html) at the root and its
// static files under assets/.
func Admin() fs.FS {
	sub, err := fs.Sub(admin, "admin")
	if err != nil {
		panic("web: embedded admin assets missing: " + err.Error())
	}
	return sub
}
