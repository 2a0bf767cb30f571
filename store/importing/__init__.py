"""The parts of the data-package import; ``store.importer.import_package`` is the entry point."""
