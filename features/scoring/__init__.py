"""The applied model shared by training and serving: scorer, factor naming, model kinds, the pyfunc."""
