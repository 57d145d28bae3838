//! TODO(layer): see DESIGN.md
