package ron_test

import (
	"go/importer"
	"go/types"
)

func importerFunc() types.Importer { return importer.Default() }
