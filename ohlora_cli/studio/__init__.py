"""``ohlora studio``: a local web page that shapes a face with sliders (FastAPI + uvicorn, one HTML file)."""
