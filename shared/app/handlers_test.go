package app_test

import (
	"testing"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
)

// TestEveryRoutedFunctionHasAnHTTPHandler: the registry gives every function API
// Gateway routes to (HTTPFunctions, held to the template elsewhere) an HTTP handler,
// and refuses a function it does not build.
func TestEveryRoutedFunctionHasAnHTTPHandler(t *testing.T) {
	a := newApp(t)
	for id := range storetest.Template().Functions {
		_, routed := a.HTTPFunctions()[id]
		if !routed && id != "StatusPageFunction" {
			continue
		}
		h, err := a.Handler(id)
		if _, ok := h.(app.HTTPHandler); err != nil || !ok {
			t.Errorf("%s: handler %T, %v; want an HTTP handler", id, h, err)
		}
	}
	if _, err := a.Handler("NoSuchFunction"); err == nil {
		t.Error("a function the app does not build got a handler")
	}
}
