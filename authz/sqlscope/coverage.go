package sqlscope

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/test_driver"
)

var (
	nodeType = reflect.TypeFor[ast.Node]()
	// Only types of these packages can hold nodes: the packages ast
	// imports cannot import ast. Named types from anywhere else (charset
	// encodings, field types, user identities) are not walked, which keeps
	// the walk inside the tree and out of the parser's global state.
	astPkg    = reflect.TypeFor[ast.SelectStmt]().PkgPath()
	driverPkg = reflect.TypeFor[test_driver.ValueExpr]().PkgPath()
)

// unvisited walks the tree under root by reflection, not through Accept,
// and returns the type of the first node the walker never entered, or
// "". The parser's Accept methods skip some children (SelectField's
// WildCard, DefaultExpr's Name, ShowStmt's Procedure, ...); a future
// parser version could skip one that holds a subquery. This check turns
// any such gap into KindOther instead of a missing table.
//
// seen maps every node the walker entered to false; unvisited sets it to
// true once it has walked the node, so a node reachable twice is walked
// once.
func unvisited(root ast.Node, seen map[ast.Node]bool) string {
	c := coverage{seen: seen}
	v := reflect.ValueOf(root)
	c.walk(v, planFor(v.Type()))
	return c.missing
}

// maxDepth bounds the reflection walk. Only a cycle of non-node pointers,
// which the parser does not build, could reach it; it fails closed.
const maxDepth = 1 << 16

type coverage struct {
	seen    map[ast.Node]bool
	depth   int
	missing string
}

func (c *coverage) walk(v reflect.Value, p *typePlan) {
	if !p.reach || c.missing != "" {
		return
	}
	if c.depth++; c.depth > maxDepth {
		c.missing = "tree too deep"
		return
	}
	defer func() { c.depth-- }()
	switch p.kind {
	case reflect.Interface:
		if !v.IsNil() {
			e := v.Elem()
			c.walk(e, planFor(e.Type()))
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if p.node {
			// NewAt rebuilds the pointer so that a node held in an
			// unexported field can be looked up too.
			n := reflect.NewAt(v.Type().Elem(), v.UnsafePointer()).Interface().(ast.Node)
			walked, ok := c.seen[n]
			if !ok {
				c.missing = fmt.Sprintf("%T", n)
				return
			}
			if walked {
				return
			}
			c.seen[n] = true
		}
		c.walk(v.Elem(), p.elem)
	case reflect.Struct:
		for _, f := range p.fields {
			c.walk(v.Field(f.index), f.plan)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			c.walk(v.Index(i), p.elem)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			c.walk(it.Key(), p.key)
			c.walk(it.Value(), p.elem)
		}
	}
}

// typePlan says what the walk must look at in values of one type. Plans
// are built once per type and never change afterwards.
type typePlan struct {
	kind   reflect.Kind
	reach  bool // a value of this type may be or lead to a node
	node   bool // a pointer type that implements ast.Node
	elem   *typePlan
	key    *typePlan
	fields []fieldPlan // struct fields that may lead to a node
	all    []fieldPlan // every struct field, while building
}

type fieldPlan struct {
	index int
	plan  *typePlan
}

var (
	plans   sync.Map // reflect.Type -> *typePlan, published plans only
	planMu  sync.Mutex
	planNew = map[reflect.Type]*typePlan{} // under planMu, while building
)

func planFor(t reflect.Type) *typePlan {
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan)
	}
	planMu.Lock()
	defer planMu.Unlock()
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan)
	}
	p := buildPlan(t)
	// reach is the least fixpoint of "is a node, is an interface, or has
	// a child that reaches": recursive types without nodes stay false.
	for changed := true; changed; {
		changed = false
		for _, q := range planNew {
			if !q.reach && q.childReaches() {
				q.reach, changed = true, true
			}
		}
	}
	for _, q := range planNew {
		for _, f := range q.all {
			if f.plan.reach {
				q.fields = append(q.fields, f)
			}
		}
		q.all = nil
	}
	// Published only once every new plan is finished: a plan stored
	// earlier in the same loop would let another walk follow its fields
	// into a plan still being written (a data race the sysbench test's
	// concurrent prepares found).
	for t, q := range planNew {
		plans.Store(t, q)
	}
	clear(planNew)
	return p
}

func (q *typePlan) childReaches() bool {
	if q.elem != nil && q.elem.reach || q.key != nil && q.key.reach {
		return true
	}
	for _, f := range q.all {
		if f.plan.reach {
			return true
		}
	}
	return false
}

// buildPlan creates the plan graph for t under planMu; reach is only
// seeded here and completed by planFor.
func buildPlan(t reflect.Type) *typePlan {
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan)
	}
	if p, ok := planNew[t]; ok {
		return p
	}
	p := &typePlan{kind: t.Kind()}
	planNew[t] = p
	if t.Name() != "" && t.PkgPath() != astPkg && t.PkgPath() != driverPkg {
		return p // cannot hold a node; reach stays false
	}
	switch t.Kind() {
	case reflect.Interface:
		p.reach = true
	case reflect.Pointer:
		p.node = t.Implements(nodeType)
		p.reach = p.node
		p.elem = buildPlan(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			p.all = append(p.all, fieldPlan{index: i, plan: buildPlan(t.Field(i).Type)})
		}
	case reflect.Slice, reflect.Array:
		p.elem = buildPlan(t.Elem())
	case reflect.Map:
		p.key = buildPlan(t.Key())
		p.elem = buildPlan(t.Elem())
	}
	return p
}
