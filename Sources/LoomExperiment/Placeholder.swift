enum ExperimentPlaceholder {}
