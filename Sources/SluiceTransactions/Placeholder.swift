// Placeholder until this layer gets its first file.
