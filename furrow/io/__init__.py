"""Files Furrow reads and writes: head meshes (OBJ, glTF), and later curves and image sequences.

Modules are imported by name (``furrow.io.obj``, ``furrow.io.gltf``) so that a
caller pays only for what it uses; nothing here imports torch at package import.
"""
