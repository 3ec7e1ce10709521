package fake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// This file is the fake's GraphQL Admin API (reference shopify.md §7): a
// focused subset of Shopify's schema, walked from a real parse of each
// query, with graphql-ruby style validation errors and cost-based
// throttling (§7.4).

// gqlField describes one field of the fake schema.
type gqlField struct {
	typ  string          // named return type
	list bool            // returns a list of typ
	conn bool            // a connection: costs 2 + first × node (reference §7.4)
	args map[string]bool // argument name -> required
}

// gqlType is an object type (fields) or a union (members).
type gqlType struct {
	fields  map[string]gqlField
	members []string
}

var connArgs = map[string]bool{"first": false, "last": false, "after": false, "before": false, "reverse": false, "sortKey": false, "query": false}

// shopifySchema is the subset served. Types not listed are scalars or enums.
var shopifySchema = map[string]gqlType{
	"QueryRoot": {fields: map[string]gqlField{
		"shop":                 {typ: "Shop"},
		"customer":             {typ: "Customer", args: map[string]bool{"id": true}},
		"customers":            {typ: "CustomerConnection", conn: true, args: connArgs},
		"customerByIdentifier": {typ: "Customer", args: map[string]bool{"identifier": true}},
		// Reference §7.5: the discount holding a code, case-insensitively;
		// null when no discount has it.
		"codeDiscountNodeByCode": {typ: "DiscountCodeNode", args: map[string]bool{"code": true}},
	}},
	"Mutation": {fields: map[string]gqlField{
		"discountCodeBasicCreate": {typ: "DiscountCodeBasicCreatePayload", args: map[string]bool{"basicCodeDiscount": true}},
		"metafieldsSet":           {typ: "MetafieldsSetPayload", args: map[string]bool{"metafields": true}},
	}},
	"Shop": {fields: map[string]gqlField{
		"id": {typ: "ID"}, "name": {typ: "String"}, "email": {typ: "String"}, "myshopifyDomain": {typ: "String"},
		"currencyCode": {typ: "CurrencyCode"}, "ianaTimezone": {typ: "String"},
	}},
	"Customer": {fields: map[string]gqlField{
		"id": {typ: "ID"}, "legacyResourceId": {typ: "UnsignedInt64"},
		"firstName": {typ: "String"}, "lastName": {typ: "String"}, "displayName": {typ: "String"},
		"email": {typ: "String"}, "phone": {typ: "String"}, // deprecated since 2025-04, still served (reference §7.5)
		"tags":                {typ: "String", list: true},
		"defaultEmailAddress": {typ: "CustomerEmailAddress"},
		"defaultPhoneNumber":  {typ: "CustomerPhoneNumber"},
		"metafield":           {typ: "Metafield", args: map[string]bool{"namespace": false, "key": true}},
	}},
	"CustomerEmailAddress": {fields: map[string]gqlField{"emailAddress": {typ: "String"}}},
	"CustomerPhoneNumber":  {fields: map[string]gqlField{"phoneNumber": {typ: "String"}}},
	"Metafield": {fields: map[string]gqlField{
		"id": {typ: "ID"}, "namespace": {typ: "String"}, "key": {typ: "String"}, "value": {typ: "String"},
		"type": {typ: "String"}, "compareDigest": {typ: "String"},
	}},
	"CustomerConnection": {fields: map[string]gqlField{
		"edges": {typ: "CustomerEdge", list: true}, "nodes": {typ: "Customer", list: true}, "pageInfo": {typ: "PageInfo"},
	}},
	"CustomerEdge": {fields: map[string]gqlField{"cursor": {typ: "String"}, "node": {typ: "Customer"}}},
	"PageInfo": {fields: map[string]gqlField{
		"hasNextPage": {typ: "Boolean"}, "hasPreviousPage": {typ: "Boolean"}, "startCursor": {typ: "String"}, "endCursor": {typ: "String"},
	}},
	"DiscountCodeBasicCreatePayload": {fields: map[string]gqlField{
		"codeDiscountNode": {typ: "DiscountCodeNode"}, "userErrors": {typ: "DiscountUserError", list: true},
	}},
	"DiscountUserError": {fields: map[string]gqlField{
		"field": {typ: "String", list: true}, "message": {typ: "String"}, "code": {typ: "DiscountErrorCode"}, "extraInfo": {typ: "String"},
	}},
	"DiscountCodeNode": {fields: map[string]gqlField{"id": {typ: "ID"}, "codeDiscount": {typ: "DiscountCode"}}},
	"DiscountCode":     {members: []string{"DiscountCodeBasic", "DiscountCodeBxgy", "DiscountCodeFreeShipping", "DiscountCodeApp"}},
	"DiscountCodeBasic": {fields: map[string]gqlField{
		"title": {typ: "String"}, "status": {typ: "DiscountStatus"}, "startsAt": {typ: "DateTime"}, "endsAt": {typ: "DateTime"},
		"usageLimit": {typ: "Int"}, "appliesOncePerCustomer": {typ: "Boolean"}, "asyncUsageCount": {typ: "Int"},
		"codes": {typ: "DiscountRedeemCodeConnection", conn: true, args: connArgs},
	}},
	"DiscountRedeemCodeConnection": {fields: map[string]gqlField{
		"edges": {typ: "DiscountRedeemCodeEdge", list: true}, "nodes": {typ: "DiscountRedeemCode", list: true}, "pageInfo": {typ: "PageInfo"},
	}},
	"DiscountRedeemCodeEdge": {fields: map[string]gqlField{"cursor": {typ: "String"}, "node": {typ: "DiscountRedeemCode"}}},
	"DiscountRedeemCode":     {fields: map[string]gqlField{"id": {typ: "ID"}, "code": {typ: "String"}, "asyncUsageCount": {typ: "Int"}}},
	"MetafieldsSetPayload": {fields: map[string]gqlField{
		"metafields": {typ: "Metafield", list: true}, "userErrors": {typ: "MetafieldsSetUserError", list: true},
	}},
	"MetafieldsSetUserError": {fields: map[string]gqlField{
		"field": {typ: "String", list: true}, "message": {typ: "String"}, "code": {typ: "MetafieldsSetUserErrorCode"}, "elementIndex": {typ: "Int"},
	}},
}

// gqlError is one entry of a GraphQL "errors" array.
type gqlError struct {
	Message    string         `json:"message"`
	Locations  []gqlLocation  `json:"locations,omitempty"`
	Path       []any          `json:"path,omitempty"`
	Extensions *orderedObject `json:"extensions,omitempty"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

func ext(kv ...any) *orderedObject {
	o := newOrderedObject()
	for i := 0; i+1 < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

func locOf(p *ast.Position) []gqlLocation {
	if p == nil {
		return nil
	}
	return []gqlLocation{{Line: p.Line, Column: p.Column}}
}

// shopifyCost is extensions.cost (reference §7.4).
type shopifyCost struct {
	RequestedQueryCost int                 `json:"requestedQueryCost"`
	ActualQueryCost    *int                `json:"actualQueryCost"`
	ThrottleStatus     shopifyThrottleInfo `json:"throttleStatus"`
}

type shopifyThrottleInfo struct {
	MaximumAvailable   rubyFloat `json:"maximumAvailable"`
	CurrentlyAvailable rubyFloat `json:"currentlyAvailable"`
	RestoreRate        rubyFloat `json:"restoreRate"`
}

// serveGraphQL answers POST /admin/api/{version}/graphql.json.
func (f *Shopify) serveGraphQL(w http.ResponseWriter, r *http.Request, shop, version string, body []byte) {
	w.Header().Set("X-Shopify-API-Version", version)
	const ct = "application/json; charset=utf-8"

	f.mu.Lock()
	s := f.shopLocked(shop)
	if s.failN > 0 {
		s.failN--
		status := s.failStatus
		f.mu.Unlock()
		msg := http.StatusText(status)
		switch status {
		case http.StatusUnauthorized:
			msg = shopifyInvalidTokenMsg
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "1.0") // [INFERRED] REST-style header
			msg = "Throttled"
		}
		shopifyError(w, status, msg)
		return
	}
	a, ok := f.access[r.Header.Get("X-Shopify-Access-Token")]
	valid := ok && a.shop == shop && (a.expires.IsZero() || f.now().Before(a.expires))
	f.mu.Unlock()
	if !valid {
		// Reference §7.1: an invalid or expired token answers 401.
		shopifyError(w, http.StatusUnauthorized, shopifyInvalidTokenMsg)
		return
	}

	var req struct {
		Query         string         `json:"query"`
		Variables     map[string]any `json:"variables"`
		OperationName string         `json:"operationName"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/graphql") {
		req.Query = string(body)
	} else if err := json.Unmarshal(body, &req); err != nil {
		// [INFERRED] Shopify's answer to an unreadable body.
		writeJSON(w, http.StatusBadRequest, ct, map[string]any{"errors": map[string]string{"query": "Required parameter missing or invalid"}})
		return
	}
	if strings.TrimSpace(req.Query) == "" {
		writeJSON(w, http.StatusOK, ct, map[string]any{"errors": []gqlError{{Message: "No query string was present"}}})
		return
	}
	doc, err := parser.ParseQuery(&ast.Source{Name: "query", Input: req.Query})
	if err != nil {
		writeJSON(w, http.StatusOK, ct, map[string]any{"errors": []gqlError{syntaxError(err)}})
		return
	}
	e := &gqlExec{f: f, doc: doc, vars: map[string]any{}}
	op, gerr := pickOperation(doc, req.OperationName)
	if gerr != nil {
		writeJSON(w, http.StatusOK, ct, map[string]any{"errors": []gqlError{*gerr}})
		return
	}
	rootType := "QueryRoot"
	e.opPath = "query"
	if op.Operation == ast.Mutation {
		rootType, e.opPath = "Mutation", "mutation"
	} else if op.Operation == ast.Subscription {
		writeJSON(w, http.StatusOK, ct, map[string]any{"errors": []gqlError{{Message: "Subscriptions are not supported"}}})
		return
	}
	if op.Name != "" {
		e.opPath += " " + op.Name
	}
	e.validate(op.SelectionSet, rootType, []any{e.opPath}, map[string]bool{})
	e.bindVariables(op, req.Variables)
	if len(e.errs) > 0 {
		writeJSON(w, http.StatusOK, ct, map[string]any{"errors": e.errs})
		return
	}
	requested := e.cost(op.SelectionSet, rootType)

	f.mu.Lock()
	defer f.mu.Unlock()
	s = f.shopLocked(shop)
	now := f.now()
	s.available = math.Min(f.opts.MaxAvailable, s.available+now.Sub(s.lastLeak).Seconds()*f.opts.RestoreRate)
	s.lastLeak = now
	status := func() shopifyThrottleInfo {
		return shopifyThrottleInfo{rubyFloat(f.opts.MaxAvailable), rubyFloat(s.available), rubyFloat(f.opts.RestoreRate)}
	}
	if requested > shopifyMaxSingleCost {
		// [INFERRED] the wording of Shopify's single-query ceiling error.
		writeJSON(w, http.StatusOK, ct, map[string]any{"errors": []gqlError{{
			Message:    fmt.Sprintf("Query cost is %d, which exceeds the single query max cost limit (%d).", requested, shopifyMaxSingleCost),
			Extensions: ext("code", "MAX_COST_EXCEEDED", "cost", requested, "maxCost", shopifyMaxSingleCost, "documentation", "https://shopify.dev/api/usage/rate-limits"),
		}}})
		return
	}
	if float64(requested) > s.available {
		// Reference §7.4: the THROTTLED body, HTTP 200, actualQueryCost null.
		out := newOrderedObject()
		out.set("errors", []gqlError{{Message: "Throttled", Extensions: ext("code", "THROTTLED", "documentation", "https://shopify.dev/api/usage/rate-limits")}})
		out.set("extensions", ext("cost", shopifyCost{RequestedQueryCost: requested, ThrottleStatus: status()}))
		writeJSON(w, http.StatusOK, ct, out)
		return
	}
	s.available -= float64(requested) // reserved up front, the difference refunded (§7.4)
	e.shop = s
	data := e.object(rootType, nil, op.SelectionSet, nil)
	actual := min(e.actual, requested)
	s.available = math.Min(f.opts.MaxAvailable, s.available+float64(requested-actual))
	if s.loseN > 0 {
		s.loseN--
		shopifyError(w, s.loseStatus, http.StatusText(s.loseStatus))
		return
	}
	out := newOrderedObject()
	if len(e.errs) > 0 {
		out.set("errors", e.errs)
	}
	out.set("data", data)
	out.set("extensions", ext("cost", shopifyCost{RequestedQueryCost: requested, ActualQueryCost: &actual, ThrottleStatus: status()}))
	writeJSON(w, http.StatusOK, ct, out)
}

// syntaxError renders a parse error the way Shopify's graphql-ruby does:
// "syntax error, ... at [line, column]" with locations. [INFERRED] the exact
// wording after "syntax error".
func syntaxError(err error) gqlError {
	var ge *gqlerror.Error
	msg := err.Error()
	var locs []gqlLocation
	if errors.As(err, &ge) {
		msg = ge.Message
		for _, l := range ge.Locations {
			locs = append(locs, gqlLocation{Line: l.Line, Column: l.Column})
		}
	}
	if len(msg) > 0 {
		msg = strings.ToLower(msg[:1]) + msg[1:]
	}
	if len(locs) > 0 {
		msg = fmt.Sprintf("syntax error, %s at [%d, %d]", msg, locs[0].Line, locs[0].Column)
	} else {
		msg = "syntax error, " + msg
	}
	return gqlError{Message: msg, Locations: locs}
}

func pickOperation(doc *ast.QueryDocument, name string) (*ast.OperationDefinition, *gqlError) {
	if name != "" {
		if op := doc.Operations.ForName(name); op != nil {
			return op, nil
		}
		return nil, &gqlError{Message: fmt.Sprintf("No operation named \"%s\"", name)}
	}
	switch len(doc.Operations) {
	case 0:
		return nil, &gqlError{Message: "No operations in query document"}
	case 1:
		return doc.Operations[0], nil
	}
	return nil, &gqlError{Message: "An operation name is required"}
}

// gqlExec validates, prices and executes one operation.
type gqlExec struct {
	f          *Shopify
	shop       *shopifyShop
	doc        *ast.QueryDocument
	vars       map[string]any
	errs       []gqlError
	opPath     string
	actual     int
	inMutation bool
}

func (e *gqlExec) fail(msg string, pos *ast.Position, path []any, x *orderedObject) {
	e.errs = append(e.errs, gqlError{Message: msg, Locations: locOf(pos), Path: append([]any(nil), path...), Extensions: x})
}

// bindVariables applies defaults and rejects a missing non-null variable
// the way graphql-ruby does.
func (e *gqlExec) bindVariables(op *ast.OperationDefinition, given map[string]any) {
	for k, v := range given {
		e.vars[k] = v
	}
	for _, vd := range op.VariableDefinitions {
		v, ok := e.vars[vd.Variable]
		if (!ok || v == nil) && vd.DefaultValue != nil {
			dv, _ := vd.DefaultValue.Value(nil)
			e.vars[vd.Variable] = dv
			continue
		}
		if (!ok || v == nil) && vd.Type.NonNull {
			e.fail(fmt.Sprintf("Variable $%s of type %s was provided invalid value", vd.Variable, vd.Type.String()), vd.Position, nil,
				ext("value", nil, "problems", []any{ext("path", []any{}, "explanation", "Expected value to not be null")}))
		}
	}
}

func responseKey(f *ast.Field) string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

func extend(path []any, k any) []any {
	return append(append([]any(nil), path...), k)
}

// validate checks the selection set against the schema, reporting errors
// with graphql-ruby's messages and extensions.code values.
func (e *gqlExec) validate(ss ast.SelectionSet, typeName string, path []any, inFrag map[string]bool) {
	t := shopifySchema[typeName]
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__typename" {
				continue
			}
			p := extend(path, responseKey(s))
			if t.members != nil {
				e.fail(fmt.Sprintf("Selections can't be made directly on unions (see selections on %s)", typeName), s.Position, p,
					ext("code", "selectionMismatch", "nodeName", typeName))
				continue
			}
			def, ok := t.fields[s.Name]
			if !ok {
				e.fail(fmt.Sprintf("Field '%s' doesn't exist on type '%s'", s.Name, typeName), s.Position, p,
					ext("code", "undefinedField", "typeName", typeName, "fieldName", s.Name))
				continue
			}
			for _, a := range s.Arguments {
				if _, ok := def.args[a.Name]; !ok {
					e.fail(fmt.Sprintf("Field '%s' doesn't accept argument '%s'", s.Name, a.Name), a.Position, extend(p, a.Name),
						ext("code", "argumentNotAccepted", "name", s.Name, "typeName", "Field", "argumentName", a.Name))
				}
			}
			var missing []string
			for _, name := range sortedKeys(def.args) {
				if def.args[name] && s.Arguments.ForName(name) == nil {
					missing = append(missing, name)
				}
			}
			if len(missing) > 0 {
				e.fail(fmt.Sprintf("Field '%s' is missing required arguments: %s", s.Name, strings.Join(missing, ", ")), s.Position, p,
					ext("code", "missingRequiredArguments", "className", "Field", "name", s.Name, "arguments", strings.Join(missing, ", ")))
			}
			_, isObject := shopifySchema[def.typ]
			switch {
			case !isObject && len(s.SelectionSet) > 0:
				var names []string
				for _, c := range s.SelectionSet {
					if cf, ok := c.(*ast.Field); ok {
						names = append(names, cf.Name)
					}
				}
				e.fail(fmt.Sprintf("Selections can't be made on scalars (field '%s' returns %s but has selections [%s])", s.Name, def.typ, strings.Join(names, ", ")),
					s.Position, p, ext("code", "selectionMismatch", "nodeName", "field '"+s.Name+"'", "typeName", def.typ))
			case isObject && len(s.SelectionSet) == 0:
				e.fail(fmt.Sprintf("Field must have selections (field '%s' returns %s but has no selections. Did you mean '%s { ... }'?)", s.Name, def.typ, s.Name),
					s.Position, p, ext("code", "selectionMismatch", "nodeName", "field '"+s.Name+"'", "typeName", def.typ))
			case isObject:
				e.validate(s.SelectionSet, def.typ, p, inFrag)
			}
		case *ast.InlineFragment:
			e.validateFragment(s.TypeCondition, s.SelectionSet, typeName, s.Position, path, inFrag)
		case *ast.FragmentSpread:
			fd := e.doc.Fragments.ForName(s.Name)
			if fd == nil {
				e.fail(fmt.Sprintf("Fragment %s was used, but not defined", s.Name), s.Position, path,
					ext("code", "useAndDefineFragment", "fragmentName", s.Name))
				continue
			}
			if inFrag[s.Name] {
				continue
			}
			inFrag[s.Name] = true
			e.validateFragment(fd.TypeCondition, fd.SelectionSet, typeName, s.Position, path, inFrag)
			delete(inFrag, s.Name)
		}
	}
}

func (e *gqlExec) validateFragment(cond string, ss ast.SelectionSet, typeName string, pos *ast.Position, path []any, inFrag map[string]bool) {
	switch {
	case cond == "" || cond == typeName:
		e.validate(ss, typeName, path, inFrag)
	case isSchemaType(cond):
		e.validate(ss, cond, path, inFrag)
	case isUnionMember(cond):
		// A member we do not model: it never matches, so its contents are
		// accepted unseen.
	default:
		e.fail(fmt.Sprintf("No such type %s, so it can't be a fragment condition", cond), pos, path,
			ext("code", "undefinedType", "typeName", cond))
	}
}

func isSchemaType(name string) bool {
	_, ok := shopifySchema[name]
	return ok
}

func isUnionMember(name string) bool {
	for _, t := range shopifySchema {
		for _, m := range t.members {
			if m == name {
				return true
			}
		}
	}
	return false
}

func typeApplies(cond, runtime string) bool {
	if cond == "" || cond == runtime {
		return true
	}
	for _, m := range shopifySchema[cond].members {
		if m == runtime {
			return true
		}
	}
	return false
}

// skipped applies @skip and @include.
func (e *gqlExec) skipped(dirs ast.DirectiveList) bool {
	for _, d := range dirs {
		arg := d.Arguments.ForName("if")
		if arg == nil {
			continue
		}
		v, _ := arg.Value.Value(e.vars)
		b, _ := v.(bool)
		if (d.Name == "skip" && b) || (d.Name == "include" && !b) {
			return true
		}
	}
	return false
}

// collect flattens fragments that apply to runtime into the fields to
// resolve, merging fields with the same response key.
func (e *gqlExec) collect(ss ast.SelectionSet, runtime string) []*ast.Field {
	var out []*ast.Field
	seen := map[string]int{}
	var walk func(ast.SelectionSet, int)
	walk = func(ss ast.SelectionSet, depth int) {
		if depth > 32 {
			return
		}
		for _, sel := range ss {
			switch s := sel.(type) {
			case *ast.Field:
				if e.skipped(s.Directives) {
					continue
				}
				k := responseKey(s)
				if i, ok := seen[k]; ok {
					merged := *out[i]
					merged.SelectionSet = append(append(ast.SelectionSet{}, out[i].SelectionSet...), s.SelectionSet...)
					out[i] = &merged
					continue
				}
				seen[k] = len(out)
				out = append(out, s)
			case *ast.InlineFragment:
				if !e.skipped(s.Directives) && typeApplies(s.TypeCondition, runtime) {
					walk(s.SelectionSet, depth+1)
				}
			case *ast.FragmentSpread:
				if fd := e.doc.Fragments.ForName(s.Name); fd != nil && !e.skipped(s.Directives) && typeApplies(fd.TypeCondition, runtime) {
					walk(fd.SelectionSet, depth+1)
				}
			}
		}
	}
	walk(ss, 0)
	return out
}

// collectAll flattens every fragment whatever its type condition, for
// pricing: unions are priced at their richest member.
func (e *gqlExec) collectAll(ss ast.SelectionSet, typeName string) []*ast.Field {
	if t := shopifySchema[typeName]; t.members != nil {
		var out []*ast.Field
		for _, m := range t.members {
			out = append(out, e.collect(ss, m)...)
		}
		return out
	}
	return e.collect(ss, typeName)
}

func (e *gqlExec) args(fld *ast.Field) map[string]any {
	out := map[string]any{}
	for _, a := range fld.Arguments {
		v, err := a.Value.Value(e.vars)
		if err == nil {
			out[a.Name] = v
		}
	}
	return out
}

// cost prices a selection set (reference §7.4): scalars 0, objects 1,
// connections 2 + first × the node's cost, mutations 10.
func (e *gqlExec) cost(ss ast.SelectionSet, typeName string) int {
	total := 0
	for _, fld := range e.collectAll(ss, typeName) {
		if typeName == "Mutation" {
			total += shopifyMutationCost
			continue
		}
		def, ok := shopifySchema[typeName].fields[fld.Name]
		if !ok || !isSchemaType(def.typ) {
			continue
		}
		if def.conn {
			a := e.args(fld)
			n := max(toInt(a["first"]), toInt(a["last"]))
			node := 0
			for _, c := range e.collect(fld.SelectionSet, def.typ) {
				cd := shopifySchema[def.typ].fields[c.Name]
				switch c.Name {
				case "nodes":
					node = max(node, 1+e.cost(c.SelectionSet, cd.typ))
				case "edges":
					for _, ec := range e.collect(c.SelectionSet, cd.typ) {
						if ec.Name == "node" {
							nd := shopifySchema[cd.typ].fields["node"]
							node = max(node, 1+e.cost(ec.SelectionSet, nd.typ))
						}
					}
				}
			}
			total += 2 + n*node
			continue
		}
		if strings.HasSuffix(def.typ, "Edge") || def.typ == "PageInfo" {
			continue
		}
		total += 1 + e.cost(fld.SelectionSet, def.typ)
	}
	return total
}

func (e *gqlExec) charge(n int) {
	if !e.inMutation {
		e.actual += n
	}
}

// object resolves the fields of one object of type typeName.
func (e *gqlExec) object(typeName string, obj any, ss ast.SelectionSet, path []any) *orderedObject {
	out := newOrderedObject()
	for _, fld := range e.collect(ss, typeName) {
		key := responseKey(fld)
		if fld.Name == "__typename" {
			out.set(key, typeName)
			continue
		}
		def := shopifySchema[typeName].fields[fld.Name]
		p := extend(path, key)
		if typeName == "Mutation" {
			e.actual += shopifyMutationCost
			e.inMutation = true
		}
		val := e.resolve(typeName, obj, fld, p)
		out.set(key, e.complete(def, val, fld, p))
		if typeName == "Mutation" {
			e.inMutation = false
		}
	}
	return out
}

// complete turns a resolved Go value into JSON by the field's type.
func (e *gqlExec) complete(def gqlField, val any, fld *ast.Field, path []any) any {
	if !isSchemaType(def.typ) {
		return val
	}
	edgeLike := strings.HasSuffix(def.typ, "Edge") || def.typ == "PageInfo"
	switch {
	case def.conn:
		e.charge(2)
	case !def.list && !edgeLike:
		e.charge(1)
	}
	if val == nil {
		return nil
	}
	if def.list {
		items, _ := val.([]any)
		out := make([]any, 0, len(items))
		for i, it := range items {
			if !edgeLike {
				e.charge(1)
			}
			out = append(out, e.object(runtimeType(def.typ, it), it, fld.SelectionSet, extend(path, i)))
		}
		return out
	}
	return e.object(runtimeType(def.typ, val), val, fld.SelectionSet, path)
}

func runtimeType(static string, v any) string {
	if t, ok := v.(interface{ gqlType() string }); ok {
		return t.gqlType()
	}
	if _, ok := v.(*ShopifyDiscount); ok && static == "DiscountCode" {
		return "DiscountCodeBasic"
	}
	if _, ok := v.(*ShopifyStoreCredit); ok && static == "StoreCreditAccountTransaction" {
		return "StoreCreditAccountCreditTransaction"
	}
	return static
}

// Value types the resolvers hand to complete.
type (
	connPage struct {
		items   []any
		cursors []string
		hasNext bool
		hasPrev bool
	}
	connEdge struct {
		cursor string
		node   any
	}
	metafieldVal struct {
		ownerID          int64
		namespace, key   string
		value, valueType string
	}
	userError struct {
		field        []string
		message      string
		code         string
		elementIndex *int
	}
	discountPayload struct {
		node   *ShopifyDiscount
		errors []any
	}
	metafieldsPayload struct {
		metafields []any
		errors     []any
	}
	redeemCode struct {
		id, code string
	}
)

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// resolve returns the Go value of one field.
func (e *gqlExec) resolve(typeName string, obj any, fld *ast.Field, path []any) any {
	a := e.args(fld)
	switch typeName {
	case "QueryRoot":
		return e.resolveQuery(fld, a, path)
	case "Mutation":
		switch fld.Name {
		case "discountCodeBasicCreate":
			in, _ := a["basicCodeDiscount"].(map[string]any)
			return e.createDiscount(in)
		case "metafieldsSet":
			list, _ := a["metafields"].([]any)
			return e.setMetafields(list)
		case "segmentCreate":
			return e.createSegment(a)
		case "storeCreditAccountCredit":
			if e.denyStoreCredit(fld, path, "write_store_credit_account_transactions") {
				return nil
			}
			return e.creditStoreCredit(a)
		case "discountCodeDelete":
			return e.deleteDiscount(a)
		}
	case "Shop":
		s := obj.(*shopifyShop)
		handle := strings.TrimSuffix(s.domain, ".myshopify.com")
		return map[string]any{
			"id": "gid://shopify/Shop/1", "name": handle, "email": "owner@" + s.domain, "myshopifyDomain": s.domain,
			"currencyCode": s.currencyCode(), "ianaTimezone": "America/New_York",
		}[fld.Name]
	case "Customer":
		if fld.Name == "storeCreditAccounts" && e.denyStoreCredit(fld, path, "read_store_credit_accounts") {
			return nil
		}
		return e.resolveCustomer(obj.(*ShopifyCustomer), fld, a)
	case "CustomerEmailAddress":
		return obj.(string)
	case "CustomerPhoneNumber":
		return obj.(string)
	case "Metafield":
		m := obj.(*metafieldVal)
		sum := sha256.Sum256([]byte(m.namespace + "." + m.key + "=" + m.value))
		switch fld.Name {
		case "id":
			id := sha256.Sum256([]byte(fmt.Sprint(m.ownerID, m.namespace, m.key)))
			return fmt.Sprintf("gid://shopify/Metafield/%d", int64(id[0])<<24|int64(id[1])<<16|int64(id[2])<<8|int64(id[3]))
		case "namespace":
			return m.namespace
		case "key":
			return m.key
		case "value":
			return m.value
		case "type":
			return orDefault(m.valueType, "single_line_text_field")
		case "compareDigest":
			return hex.EncodeToString(sum[:])
		}
	case "CustomerConnection", "DiscountRedeemCodeConnection":
		pg := obj.(*connPage)
		switch fld.Name {
		case "nodes":
			return pg.items
		case "edges":
			edges := make([]any, len(pg.items))
			for i, it := range pg.items {
				edges[i] = &connEdge{cursor: pg.cursors[i], node: it}
			}
			return edges
		case "pageInfo":
			return pg
		}
	case "CustomerEdge", "DiscountRedeemCodeEdge":
		ed := obj.(*connEdge)
		if fld.Name == "cursor" {
			return ed.cursor
		}
		return ed.node
	case "PageInfo":
		pg := obj.(*connPage)
		switch fld.Name {
		case "hasNextPage":
			return pg.hasNext
		case "hasPreviousPage":
			return pg.hasPrev
		case "startCursor":
			if len(pg.cursors) > 0 {
				return pg.cursors[0]
			}
		case "endCursor":
			if len(pg.cursors) > 0 {
				return pg.cursors[len(pg.cursors)-1]
			}
		}
		return nil
	case "DiscountCodeBasicCreatePayload":
		p := obj.(*discountPayload)
		if fld.Name == "userErrors" {
			return p.errors
		}
		if p.node == nil {
			return nil
		}
		return p.node
	case "MetafieldsSetPayload":
		p := obj.(*metafieldsPayload)
		if fld.Name == "userErrors" {
			return p.errors
		}
		if p.metafields == nil {
			return nil
		}
		return p.metafields
	case "DiscountUserError", "MetafieldsSetUserError":
		u := obj.(*userError)
		switch fld.Name {
		case "field":
			out := make([]any, len(u.field))
			for i, s := range u.field {
				out[i] = s
			}
			return out
		case "message":
			return u.message
		case "code":
			return nullable(u.code)
		case "elementIndex":
			if u.elementIndex != nil {
				return *u.elementIndex
			}
		}
		return nil
	case "DiscountCodeNode":
		d := obj.(*ShopifyDiscount)
		if fld.Name == "id" {
			return d.ID
		}
		return d
	case "DiscountCodeBasic":
		return e.resolveDiscount(obj.(*ShopifyDiscount), fld, a)
	case "DiscountRedeemCode":
		rc := obj.(*redeemCode)
		switch fld.Name {
		case "id":
			return rc.id
		case "code":
			return rc.code
		case "asyncUsageCount":
			return 0
		}
	default:
		if v, ok := e.resolveThemeTypes(typeName, obj, fld); ok {
			return v
		}
		return e.resolveSegmentTypes(typeName, obj, fld)
	}
	return nil
}

func (e *gqlExec) resolveQuery(fld *ast.Field, a map[string]any, path []any) any {
	switch fld.Name {
	case "shop":
		return e.shop
	case "customer":
		raw, _ := a["id"].(string)
		id, ok := parseGID(raw, "Customer")
		if !ok {
			e.fail(fmt.Sprintf("Invalid global id '%s'", raw), fld.Position, path,
				ext("code", "argumentLiteralsIncompatible", "typeName", "CoercionError"))
			return nil
		}
		return e.findCustomer(func(c *ShopifyCustomer) bool { return c.ID == id })
	case "segments":
		return e.resolveSegmentsQuery(a)
	case "themes":
		return e.resolveThemesQuery(fld, a, path)
	case "order":
		return e.resolveOrderQuery(fld, a, path)
	case "codeDiscountNodeByCode":
		code, _ := a["code"].(string)
		for i := range e.shop.discounts {
			if strings.EqualFold(e.shop.discounts[i].Code, code) {
				return &e.shop.discounts[i]
			}
		}
		return nil
	case "customerByIdentifier":
		in, _ := a["identifier"].(map[string]any)
		if v, ok := in["emailAddress"].(string); ok {
			return e.findCustomer(func(c *ShopifyCustomer) bool { return strings.EqualFold(c.Email, v) })
		}
		if v, ok := in["phoneNumber"].(string); ok {
			return e.findCustomer(func(c *ShopifyCustomer) bool { return samePhone(c.Phone, v) })
		}
		if v, ok := in["id"].(string); ok {
			id, _ := parseGID(v, "Customer")
			return e.findCustomer(func(c *ShopifyCustomer) bool { return c.ID == id })
		}
		if v, ok := in["customId"].(map[string]any); ok {
			ns, _ := v["namespace"].(string)
			key, _ := v["key"].(string)
			val, _ := v["value"].(string)
			return e.findCustomer(func(c *ShopifyCustomer) bool { mv, ok := c.Metafields[ns+"."+key]; return ok && mv == val })
		}
		return nil
	case "customers":
		first, last := toInt(a["first"]), toInt(a["last"])
		if first <= 0 && last <= 0 {
			e.fail("you must provide one of first or last", fld.Position, path, nil)
			return nil
		}
		q, _ := a["query"].(string)
		var matched []any
		var cursors []string
		for _, c := range e.shop.customers {
			if matchCustomerQuery(c, q) {
				matched = append(matched, c)
				cursors = append(cursors, base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"last_id":%d}`, c.ID))))
			}
		}
		if rev, _ := a["reverse"].(bool); rev {
			for i, j := 0, len(matched)-1; i < j; i, j = i+1, j-1 {
				matched[i], matched[j] = matched[j], matched[i]
				cursors[i], cursors[j] = cursors[j], cursors[i]
			}
		}
		return paginate(matched, cursors, first, last, a)
	}
	return nil
}

// paginate applies after/before and first/last to items.
func paginate(items []any, cursors []string, first, last int, a map[string]any) *connPage {
	start, end := 0, len(items)
	if after, _ := a["after"].(string); after != "" {
		for i, c := range cursors {
			if c == after {
				start = i + 1
			}
		}
	}
	if before, _ := a["before"].(string); before != "" {
		for i, c := range cursors {
			if c == before {
				end = i
			}
		}
	}
	if end < start {
		end = start
	}
	pg := &connPage{hasPrev: start > 0, hasNext: end < len(items)}
	if first > 0 && end-start > first {
		end = start + first
		pg.hasNext = true
	}
	if last > 0 && end-start > last {
		start = end - last
		pg.hasPrev = true
	}
	pg.items, pg.cursors = items[start:end], cursors[start:end]
	return pg
}

func (e *gqlExec) findCustomer(match func(*ShopifyCustomer) bool) any {
	for _, c := range e.shop.customers {
		if match(c) {
			return c
		}
	}
	return nil
}

func (e *gqlExec) resolveCustomer(c *ShopifyCustomer, fld *ast.Field, a map[string]any) any {
	switch fld.Name {
	case "id":
		return fmt.Sprintf("gid://shopify/Customer/%d", c.ID)
	case "legacyResourceId":
		return strconv.FormatInt(c.ID, 10) // UnsignedInt64 is serialised as a string
	case "firstName":
		return nullable(c.FirstName)
	case "lastName":
		return nullable(c.LastName)
	case "displayName":
		if n := strings.TrimSpace(c.FirstName + " " + c.LastName); n != "" {
			return n
		}
		return orDefault(c.Email, c.Phone)
	case "email":
		return nullable(c.Email)
	case "phone":
		return nullable(c.Phone)
	case "tags":
		return []any{}
	case "defaultEmailAddress":
		return nullable(c.Email)
	case "defaultPhoneNumber":
		return nullable(c.Phone)
	case "numberOfOrders":
		return strconv.Itoa(c.NumberOfOrders) // UnsignedInt64 is serialised as a string
	case "defaultAddress":
		if c.DefaultAddress == nil {
			return nil
		}
		return c.DefaultAddress
	case "storeCreditAccounts":
		return e.storeCreditAccounts(c, a)
	case "metafield":
		ns, _ := a["namespace"].(string)
		key, _ := a["key"].(string)
		ns = orDefault(ns, "$app") // the app-reserved namespace is the default
		v, ok := c.Metafields[ns+"."+key]
		if !ok {
			return nil
		}
		return &metafieldVal{ownerID: c.ID, namespace: ns, key: key, value: v}
	}
	return nil
}

func (e *gqlExec) resolveDiscount(d *ShopifyDiscount, fld *ast.Field, a map[string]any) any {
	switch fld.Name {
	case "title":
		return d.Title
	case "status":
		now := e.f.now()
		if t, err := time.Parse(time.RFC3339, d.StartsAt); err == nil && t.After(now) {
			return "SCHEDULED"
		}
		if t, err := time.Parse(time.RFC3339, d.EndsAt); err == nil && !t.After(now) {
			return "EXPIRED"
		}
		return "ACTIVE"
	case "startsAt":
		return d.StartsAt
	case "endsAt":
		return nullable(d.EndsAt)
	case "usageLimit":
		if d.UsageLimit > 0 {
			return d.UsageLimit
		}
		return nil
	case "appliesOncePerCustomer":
		return d.AppliesOncePerCustomer
	case "asyncUsageCount":
		return d.Uses
	case "codes":
		id := strings.TrimPrefix(d.ID, "gid://shopify/DiscountCodeNode/")
		items := []any{&redeemCode{id: "gid://shopify/DiscountRedeemCode/" + id, code: d.Code}}
		cursors := []string{base64.StdEncoding.EncodeToString([]byte(`{"last_id":` + id + `}`))}
		return paginate(items, cursors, toInt(a["first"]), toInt(a["last"]), a)
	}
	return nil
}

// createDiscount implements discountCodeBasicCreate (reference §7.5):
// required title, code, startsAt, customerGets and context (or the
// deprecated customerSelection); codes unique per shop, case-insensitively.
// [INFERRED] the messages and codes of the BLANK/INVALID user errors.
func (e *gqlExec) createDiscount(in map[string]any) *discountPayload {
	p := &discountPayload{}
	add := func(field, msg, code string) {
		p.errors = append(p.errors, &userError{field: []string{"basicCodeDiscount", field}, message: msg, code: code})
	}
	if len(e.shop.refuseDiscounts) > 0 {
		msg := e.shop.refuseDiscounts[0]
		e.shop.refuseDiscounts = e.shop.refuseDiscounts[1:]
		p.errors = append(p.errors, &userError{field: []string{"basicCodeDiscount"}, message: msg, code: "INVALID"})
		return p
	}
	str := func(k string) string { s, _ := in[k].(string); return strings.TrimSpace(s) }
	if str("title") == "" {
		add("title", "Title can't be blank", "BLANK")
	}
	code := str("code")
	switch {
	case code == "":
		add("code", "Code can't be blank", "BLANK")
	case len(code) > 255:
		add("code", "Code is too long (maximum is 255 characters)", "TOO_LONG")
	default:
		for _, d := range e.shop.discounts {
			if strings.EqualFold(d.Code, code) {
				add("code", "Code must be unique. Please try a different code.", "TAKEN")
				break
			}
		}
	}
	if str("startsAt") == "" {
		add("startsAt", "Starts at can't be blank", "BLANK")
	} else if _, err := time.Parse(time.RFC3339, str("startsAt")); err != nil {
		add("startsAt", "Starts at is invalid", "INVALID")
	}
	if in["customerGets"] == nil {
		add("customerGets", "Customer gets can't be blank", "BLANK")
	}
	switch {
	case in["context"] == nil && in["customerSelection"] == nil:
		add("context", "Context can't be blank", "BLANK")
	case in["context"] != nil && in["customerSelection"] != nil:
		add("context", "Only one of context or customerSelection can be provided", "INVALID")
	}
	segments, serrs := e.discountSegments(in)
	p.errors = append(p.errors, serrs...)
	if len(p.errors) > 0 {
		return p
	}
	e.f.nextID++
	d := ShopifyDiscount{
		ID:    fmt.Sprintf("gid://shopify/DiscountCodeNode/%d", 1000+e.f.nextID),
		Title: str("title"), Code: code, StartsAt: str("startsAt"), EndsAt: str("endsAt"),
		UsageLimit: toInt(in["usageLimit"]), Input: in, CreatedAt: e.f.now(),
	}
	d.AppliesOncePerCustomer, _ = in["appliesOncePerCustomer"].(bool)
	d.CustomerSegmentIDs = segments
	for _, sel := range []string{"context", "customerSelection"} {
		if ctx, ok := in[sel].(map[string]any); ok {
			if cs, ok := ctx["customers"].(map[string]any); ok {
				for _, id := range toSlice(cs["add"]) {
					if s, ok := id.(string); ok {
						d.CustomerIDs = append(d.CustomerIDs, s)
					}
				}
			}
		}
	}
	e.shop.discounts = append(e.shop.discounts, d)
	p.node = &d
	return p
}

// setMetafields implements metafieldsSet on customers (reference §7.5):
// at most 25, atomic, compare-and-set on compareDigest. [INFERRED] the
// user-error messages and codes.
func (e *gqlExec) setMetafields(list []any) *metafieldsPayload {
	p := &metafieldsPayload{}
	if len(list) > 25 {
		p.errors = append(p.errors, &userError{field: []string{"metafields"}, message: "Exceeded the maximum metafields input limit of 25.", code: "LESS_THAN_OR_EQUAL_TO"})
		return p
	}
	type op struct {
		c         *ShopifyCustomer
		ns, key   string
		val, kind string
	}
	var ops []op
	for i, raw := range list {
		in, _ := raw.(map[string]any)
		idx := i
		bad := func(field, msg, code string) {
			p.errors = append(p.errors, &userError{field: []string{"metafields", strconv.Itoa(i), field}, message: msg, code: code, elementIndex: &idx})
		}
		owner, _ := in["ownerId"].(string)
		ns, _ := in["namespace"].(string)
		key, _ := in["key"].(string)
		val, _ := in["value"].(string)
		kind, _ := in["type"].(string)
		ns = orDefault(ns, "$app")
		id, ok := parseGID(owner, "Customer")
		var c *ShopifyCustomer
		if ok {
			c, _ = e.findCustomer(func(c *ShopifyCustomer) bool { return c.ID == id }).(*ShopifyCustomer)
		}
		switch {
		case c == nil:
			bad("ownerId", "Owner does not exist.", "INVALID")
			continue
		case len(key) < 2 || len(key) > 64:
			bad("key", "Key is too short or too long.", "INVALID")
			continue
		}
		if digest, present := in["compareDigest"]; present {
			cur, exists := c.Metafields[ns+"."+key]
			var want string
			if exists {
				sum := sha256.Sum256([]byte(ns + "." + key + "=" + cur))
				want = hex.EncodeToString(sum[:])
			}
			ds, _ := digest.(string)
			if (digest == nil && exists) || (digest != nil && ds != want) {
				bad("compareDigest", "The resource has been updated since it was loaded. Try again with an updated `compareDigest` value.", "STALE_OBJECT")
				continue
			}
		}
		ops = append(ops, op{c, ns, key, val, kind})
	}
	if len(p.errors) > 0 {
		return p // atomic: nothing written
	}
	p.metafields = []any{}
	for _, o := range ops {
		if o.c.Metafields == nil {
			o.c.Metafields = map[string]string{}
		}
		o.c.Metafields[o.ns+"."+o.key] = o.val
		p.metafields = append(p.metafields, &metafieldVal{ownerID: o.c.ID, namespace: o.ns, key: o.key, value: o.val, valueType: o.kind})
	}
	return p
}

// parseGID parses gid://shopify/{kind}/{id}.
func parseGID(s, kind string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, "gid://shopify/"+kind+"/")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// matchCustomerQuery applies Shopify search syntax for the customers
// connection: email:, phone:, id:, first_name:, last_name: terms (quoted or
// not), AND-ed; other words match names and email.
func matchCustomerQuery(c *ShopifyCustomer, q string) bool {
	for _, term := range splitSearch(q) {
		if strings.EqualFold(term, "AND") {
			continue
		}
		k, v, hasField := strings.Cut(term, ":")
		v = strings.Trim(v, `"'`)
		if !hasField {
			t := strings.ToLower(strings.Trim(term, `"'`))
			if !strings.Contains(strings.ToLower(c.Email+" "+c.FirstName+" "+c.LastName), t) {
				return false
			}
			continue
		}
		var ok bool
		switch strings.ToLower(k) {
		case "email":
			ok = strings.EqualFold(c.Email, v)
		case "phone":
			ok = samePhone(c.Phone, v)
		case "id":
			ok = strconv.FormatInt(c.ID, 10) == v
		case "first_name":
			ok = strings.EqualFold(c.FirstName, v)
		case "last_name":
			ok = strings.EqualFold(c.LastName, v)
		default:
			ok = true // unknown filters are ignored, as Shopify does
		}
		if !ok {
			return false
		}
	}
	return true
}

func splitSearch(q string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range q {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case (r == ' ' || r == '\t') && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func samePhone(a, b string) bool {
	digits := func(s string) string {
		var d strings.Builder
		for _, r := range s {
			if r >= '0' && r <= '9' {
				d.WriteRune(r)
			}
		}
		return d.String()
	}
	da := digits(a)
	return da != "" && da == digits(b)
}

func toInt(v any) int {
	switch v := v.(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	case json.Number:
		n, _ := v.Int64()
		return int(n)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

func toSlice(v any) []any {
	if s, ok := v.([]any); ok {
		return s
	}
	return nil
}
