"""bpy wiring helpers: mesh + shape keys, materials, modifiers."""
