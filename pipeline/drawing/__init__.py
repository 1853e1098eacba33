"""Pictures of keypoints: skeletons on frames, preview grids and animations, the report page."""
