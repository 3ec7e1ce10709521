package fake

import (
	"maps"
	"slices"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
)

// This file teaches the fake the themes query the launch checklist uses:
// the published (MAIN) theme and one of its files, config/settings_data.json,
// whose body is a union (text, base64 or URL). Reading themes needs the
// read_themes scope; without it Shopify answers ACCESS_DENIED on the field.

// ShopifyTheme is a theme of a fake shop.
type ShopifyTheme struct {
	ID   int64
	Name string
	Role string // MAIN for the published theme, UNPUBLISHED, DEVELOPMENT...
	// Files maps a file name (config/settings_data.json) to its text.
	Files map[string]string
}

type themeFile struct {
	name, content string
}

type themeFileText struct{ content string }

func (themeFileText) gqlType() string { return "OnlineStoreThemeFileBodyText" }

func init() {
	shopifySchema["QueryRoot"].fields["themes"] = gqlField{typ: "OnlineStoreThemeConnection", conn: true,
		args: map[string]bool{"first": false, "last": false, "after": false, "before": false, "reverse": false, "roles": false, "names": false}}
	shopifySchema["OnlineStoreThemeConnection"] = gqlType{fields: map[string]gqlField{
		"nodes": {typ: "OnlineStoreTheme", list: true}, "pageInfo": {typ: "PageInfo"},
	}}
	shopifySchema["OnlineStoreTheme"] = gqlType{fields: map[string]gqlField{
		"id": {typ: "ID"}, "name": {typ: "String"}, "role": {typ: "ThemeRole"}, "processing": {typ: "Boolean"},
		"files": {typ: "OnlineStoreThemeFileConnection", conn: true,
			args: map[string]bool{"filenames": false, "first": false, "after": false}},
	}}
	shopifySchema["OnlineStoreThemeFileConnection"] = gqlType{fields: map[string]gqlField{
		"nodes": {typ: "OnlineStoreThemeFile", list: true}, "pageInfo": {typ: "PageInfo"},
	}}
	shopifySchema["OnlineStoreThemeFile"] = gqlType{fields: map[string]gqlField{
		"filename": {typ: "String"}, "size": {typ: "UnsignedInt64"}, "body": {typ: "OnlineStoreThemeFileBody"},
	}}
	shopifySchema["OnlineStoreThemeFileBody"] = gqlType{members: []string{
		"OnlineStoreThemeFileBodyText", "OnlineStoreThemeFileBodyBase64", "OnlineStoreThemeFileBodyUrl"}}
	shopifySchema["OnlineStoreThemeFileBodyText"] = gqlType{fields: map[string]gqlField{"content": {typ: "String"}}}
	shopifySchema["OnlineStoreThemeFileBodyBase64"] = gqlType{fields: map[string]gqlField{"contentBase64": {typ: "String"}}}
	shopifySchema["OnlineStoreThemeFileBodyUrl"] = gqlType{fields: map[string]gqlField{"url": {typ: "URL"}}}
}

// SetTheme adds or replaces a theme of shop. A MAIN theme replaces the
// role of the previous published one (UNPUBLISHED), as publishing does.
func (f *Shopify) SetTheme(shop string, t ShopifyTheme) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	for i, old := range s.themes {
		if old.ID == t.ID {
			s.themes = append(s.themes[:i], s.themes[i+1:]...)
			break
		}
	}
	if t.Role == "MAIN" {
		for _, old := range s.themes {
			if old.Role == "MAIN" {
				old.Role = "UNPUBLISHED"
			}
		}
	}
	s.themes = append(s.themes, &t)
}

// DenyThemeAccess makes themes answer ACCESS_DENIED for shop, as for an
// app installed without the read_themes scope (deny false grants it again).
func (f *Shopify) DenyThemeAccess(shop string, deny bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shopLocked(normalizeShop(shop)).noThemeAccess = deny
}

// resolveThemesQuery serves QueryRoot.themes.
func (e *gqlExec) resolveThemesQuery(fld *ast.Field, a map[string]any, path []any) any {
	if e.shop.noThemeAccess {
		e.fail("Access denied for themes field. Required access: `read_themes` access scope.", fld.Position, path,
			ext("code", "ACCESS_DENIED", "documentation", "https://shopify.dev/api/usage/access-scopes", "requiredAccess", "`read_themes` access scope."))
		return nil
	}
	roles := map[string]bool{}
	if list, ok := a["roles"].([]any); ok {
		for _, r := range list {
			if s, ok := r.(string); ok {
				roles[s] = true
			}
		}
	}
	var items []any
	var cursors []string
	for _, t := range e.shop.themes {
		if len(roles) > 0 && !roles[t.Role] {
			continue
		}
		items = append(items, t)
		cursors = append(cursors, strconv.FormatInt(t.ID, 10))
	}
	return paginate(items, cursors, toInt(a["first"]), toInt(a["last"]), a)
}

// resolveThemeTypes resolves the types this file adds; ok is false for
// other types.
func (e *gqlExec) resolveThemeTypes(typeName string, obj any, fld *ast.Field) (any, bool) {
	switch typeName {
	case "OnlineStoreThemeConnection", "OnlineStoreThemeFileConnection":
		pg := obj.(*connPage)
		if fld.Name == "nodes" {
			return pg.items, true
		}
		return pg, true
	case "OnlineStoreTheme":
		t := obj.(*ShopifyTheme)
		switch fld.Name {
		case "id":
			return "gid://shopify/OnlineStoreTheme/" + strconv.FormatInt(t.ID, 10), true
		case "name":
			return t.Name, true
		case "role":
			return t.Role, true
		case "processing":
			return false, true
		case "files":
			a := e.args(fld)
			want := map[string]bool{}
			if list, ok := a["filenames"].([]any); ok {
				for _, n := range list {
					if s, ok := n.(string); ok {
						want[s] = true
					}
				}
			}
			var items []any
			var cursors []string
			for _, name := range slices.Sorted(maps.Keys(t.Files)) {
				if len(want) > 0 && !want[name] {
					continue
				}
				items = append(items, &themeFile{name: name, content: t.Files[name]})
				cursors = append(cursors, name)
			}
			first := toInt(a["first"])
			if first <= 0 {
				first = 50 // Shopify's default page for files
			}
			return paginate(items, cursors, first, 0, a), true
		}
	case "OnlineStoreThemeFile":
		tf := obj.(*themeFile)
		switch fld.Name {
		case "filename":
			return tf.name, true
		case "size":
			return strconv.Itoa(len(tf.content)), true
		case "body":
			return themeFileText{content: tf.content}, true
		}
	case "OnlineStoreThemeFileBodyText":
		return obj.(themeFileText).content, true
	}
	return nil, false
}
