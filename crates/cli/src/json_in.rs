//! Parsing JSON input (block commit lines, genesis files) with errors that name the field.
