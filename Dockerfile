FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY dialogs ./dialogs
COPY nlu ./nlu
COPY store ./store
RUN pip install --no-cache-dir .
ENV CIVICBOT_MEDIA_DIR=/data/media
VOLUME ["/data"]
CMD ["civicbot", "run"]
