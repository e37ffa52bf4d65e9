package blockstore

// PutBatches is putBatches, for the benchmarks of package blockstore_test.
var PutBatches = putBatches
