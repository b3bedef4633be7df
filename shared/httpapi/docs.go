package httpapi

import (
	_ "embed"
	"net/http"
)

//go:embed openapi.json
var openapiJSON []byte

//go:embed docs.html
var docsHTML []byte

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openapiJSON)
	return err
}

func (a *API) docs(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, err := w.Write(docsHTML)
	return err
}
